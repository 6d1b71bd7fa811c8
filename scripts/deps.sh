#!/usr/bin/env bash
# Installs what building and testing wollama needs on a fresh Debian machine of this kind.
# Idempotent and quiet when everything is already there.
set -euo pipefail

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

apt_install unzip ca-certificates
# Vulkan's loader and Mesa's drivers, lavapipe (Vulkan on the CPU) among them: the GPU
# executor's tests run on it where the machine has no GPU of its own.
apt_install mesa-vulkan-drivers libvulkan1

command -v node >/dev/null || apt_install nodejs npm
command -v cargo >/dev/null || { echo "cargo is required (rustup)" >&2; exit 1; }
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
# The GPU executor also builds for the browser (WebGPU).
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
