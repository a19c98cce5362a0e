#!/usr/bin/env bash
# Regenerates the picture of the parts in docs/architecture.md from the build's
# own declarations (each src/<part>/CMakeLists.txt names the parts it depends
# on): docs/parts.dot, rendered to docs/parts.svg with Graphviz. CTest's
# structure.graph fails when docs/parts.dot no longer matches the build.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 tests/structure/check_structure.py graph . > docs/parts.dot
if ! command -v dot >/dev/null; then
  echo "architecture-graph: wrote docs/parts.dot; install graphviz (apt-get install -y graphviz) to render docs/parts.svg" >&2
  exit 1
fi
dot -Tsvg docs/parts.dot > docs/parts.svg
echo "architecture-graph: wrote docs/parts.dot and docs/parts.svg"
