//! Structured outputs against a real `wollama serve` and the real SmolLM2:
//! tests/python/structured_outputs.py asks ten JSON Schemas of rising difficulty (objects,
//! arrays, nesting, enums, nullables, bounds, patterns, $defs/$ref, anyOf, recursion) through
//! `format` (greedy and sampled) and /v1 `response_format`, and validates every answer.

mod common;

#[test]
fn every_schema_yields_valid_json_greedy_and_sampled() {
    let s = common::start();
    common::create_smollm2(&s, "");
    common::python_checks(&s, "structured_outputs.py");
}
