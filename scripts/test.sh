#!/usr/bin/env bash
# Runs every test: installs what the tests need, fetches and verifies the test models, builds
# the guest component and the host (and the GPU executor for wasm32-unknown-unknown, as the
# browser builds it), lints everything with clippy (warnings are errors), then runs the Rust
# and Node suites under cargo-nextest. The GPU tests (binaries and tests named gpu_*) run on
# whatever adapter wgpu finds, lavapipe included; on a machine with none they are left out
# and listed as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wollama/target}
export WOLLAMA_GUEST_STAMP=$(bash scripts/guest-stamp.sh)

bash scripts/deps.sh
bash scripts/fetch-models.sh smollm2 gemma3 minilm >/dev/null
(cd tests/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
(cd tests/ollama-js && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
python3 -m pip install -q --disable-pip-version-check ollama==0.6.3 openai==3.51.0 jsonschema==4.26.0
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

cargo build --release --workspace --all-targets
cargo build --release -p wollama-gpu --target wasm32-unknown-unknown
# Clippy runs the runtime's build script as a unit of its own, which would build the guest
# component a second time (under clippy-driver); it gets the component the build just made.
guest_wasm=$(ls -t "$CARGO_TARGET_DIR"/release/build/wollama-runtime-*/out/wollama_guest.wasm | head -n 1)
WOLLAMA_GUEST_WASM=$guest_wasm cargo clippy --release --workspace --all-targets -- -D warnings
gpu_tests='binary(/^gpu_/) | test(/(^|::)gpu_/) | (package(wollama-gpu) & kind(test))'
if "$CARGO_TARGET_DIR"/release/wollama gpu-info 2>/dev/null; then
  filter='all()'
else
  echo "no GPU adapter (not even lavapipe: apt-get install mesa-vulkan-drivers libvulkan1); skipped GPU tests:"
  cargo nextest list --release --workspace -E "$gpu_tests" --message-format oneline | sed 's/^/  SKIP /'
  filter="not ($gpu_tests)"
fi
cargo nextest run --release --workspace --no-fail-fast -E "$filter"
