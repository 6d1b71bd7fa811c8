"""The tiny harness the client scripts share: each check runs at once, failures are reported
with their traceback and do not stop the others, and `finish` prints "N passed, N failed"
and exits non-zero on any failure (the Rust driver reads both)."""
import sys
import traceback

_results = []


def run(name, fn):
    try:
        fn()
        _results.append(True)
        print(f"ok {name}")
    except Exception:  # noqa: BLE001 - report every failure, keep going
        _results.append(False)
        print(f"FAILED {name}\n{traceback.format_exc()}")


def check(fn):
    """Decorator: runs the function as a check named after it."""
    run(fn.__name__, fn)
    return fn


def finish():
    passed = sum(_results)
    print(f"{passed} passed, {len(_results) - passed} failed")
    sys.exit(0 if passed == len(_results) else 1)
