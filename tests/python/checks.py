"""The tiny harness the Python client scripts share: `@check` runs a function at once and
records whether it passed (printing the traceback when not); `finish()` prints
"N passed, N failed" and exits non-zero on any failure."""
import sys
import traceback

results = []


def check(fn):
    try:
        fn()
        results.append(True)
        print(f"ok {fn.__name__}")
    except Exception:  # noqa: BLE001 - report every failure, keep going
        results.append(False)
        print(f"FAILED {fn.__name__}\n{traceback.format_exc()}")
    return fn


def finish():
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    sys.exit(0 if passed == len(results) else 1)
