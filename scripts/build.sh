#!/usr/bin/env bash
# Configures and builds mailseal into build/ (or $MAILSEAL_BUILD_DIR); extra
# arguments go to cmake (e.g. -DMAILSEAL_SANITIZE=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${MAILSEAL_BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
