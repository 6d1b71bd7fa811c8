//! The official `ollama` Python client (PyPI, installed by scripts/test.sh) against a real
//! `wollama serve`: tests/python/ollama_client.py drives every endpoint it exposes that the
//! server has so far, streaming and not, with assertions on its typed results.

mod common;

#[test]
fn the_ollama_python_client_works_against_wollama() {
    let s = common::start();
    common::create_smollm2(&s, "");
    common::python_checks(&s, "ollama_client.py");
}
