//! A tool-call round trip through the official `ollama` Python client against a real
//! `wollama serve` (tests/python/ollama_tools.py).

mod common;

#[test]
fn a_tool_call_round_trips_through_the_ollama_client() {
    let s = common::start();
    common::create_smollm2(&s, "");
    common::python_checks(&s, "ollama_tools.py");
}
