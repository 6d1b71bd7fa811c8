#!/usr/bin/env bash
# Builds everything, fetches the default model (SmolLM2-135M-Instruct Q4_1) and starts
# wollama. Until the server lands (issue 3) it starts an interactive generation instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wollama/target}

bash scripts/deps.sh
model=$(bash scripts/fetch-models.sh smollm2 | awk '{print $2}')
cargo build --release -p wollama
bin=$CARGO_TARGET_DIR/release/wollama
echo "built $bin; model $model" >&2
exec "$bin" generate --gguf "$model" --chat --prompt "${PROMPT:-What is the capital of France?}" --verbose
