#!/usr/bin/env bash
# Prints a hash of everything the guest component is built from. Exported as
# WOLLAMA_GUEST_STAMP by the scripts, so that checkouts sharing ~/.cache/wollama/target never
# reuse a guest built from another checkout's sources (host/runtime/build.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
find guest plan wit -type f -not -path '*/target/*' | LC_ALL=C sort | xargs cat Cargo.lock | sha256sum | cut -c1-16
