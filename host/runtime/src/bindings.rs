//! Rust bindings for `wit/engine.wit`, host side.

wasmtime::component::bindgen!({
    world: "guest",
    path: "../../wit",
    with: {
        "wollama:engine/model-file.file": crate::host::ModelFile,
        "wollama:engine/compute.plan": crate::host::PlanHandle,
    },
});
