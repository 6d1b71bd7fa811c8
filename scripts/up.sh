#!/usr/bin/env bash
# Builds everything, fetches the default model (SmolLM2-135M-Instruct Q4_1), starts
# `wollama serve` on OLLAMA_HOST (default 127.0.0.1:11434), creates `smollm2:135m` from the
# fetched GGUF and keeps serving in the foreground (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wollama/target}
export WOLLAMA_GUEST_STAMP=$(bash scripts/guest-stamp.sh)
export OLLAMA_HOST=${OLLAMA_HOST:-127.0.0.1:11434}

bash scripts/deps.sh
# The README's Python examples use the official client.
python3 -m pip install -q --disable-pip-version-check ollama==0.6.3
model=$(bash scripts/fetch-models.sh smollm2 | awk '{print $2}')
cargo build --release -p wollama
bin=$CARGO_TARGET_DIR/release/wollama

"$bin" serve &
server=$!
trap 'kill $server 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 100); do
  "$bin" list >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { echo "wollama serve exited" >&2; exit 1; }
  sleep 0.1
done
modelfile=$(mktemp)
printf 'FROM %s\n' "$model" > "$modelfile"
"$bin" create smollm2:135m -f "$modelfile"
rm -f "$modelfile"
echo "wollama is serving smollm2:135m on http://$OLLAMA_HOST" >&2
wait $server
