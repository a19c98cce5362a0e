#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs the whole
# suite through CTest. Its output ends with CTest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd "${MAILSEAL_BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" --timeout 600
