//! The official `openai` Python SDK (PyPI, installed by scripts/test.sh) against a real
//! `wollama serve`: tests/python/openai_sdk.py covers /v1 chat completions (streamed and
//! not, usage, stop, max tokens, seeds, JSON outputs, options), completions and models.

mod common;

#[test]
fn the_openai_python_sdk_works_against_wollama() {
    let s = common::start();
    common::create_smollm2(&s, "");
    common::python_checks(&s, "openai_sdk.py");
}
