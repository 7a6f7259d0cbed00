#!/usr/bin/env bash
# A production build (no cargo features) carries no test machinery: the simulated AWS
# (crate simaws) is not in its dependency graph, and only the demo feature brings it
# in. The test hooks are compiled only with the test-hooks feature (#[cfg]), and the
# clippy run over the default build proves that build compiles without them.
set -euo pipefail
cd "$(dirname "$0")/.."
graph() { cargo tree --locked -e normal,build -p aws-quota-exporter --prefix none "$@"; }
if graph | grep -q '^simaws '; then
  echo "the production build depends on the simulator (simaws); it must only come with --features demo" >&2
  exit 1
fi
graph --features demo | grep -q '^simaws ' || { echo "--features demo no longer brings the simulator in" >&2; exit 1; }
echo "release build: no simulator, no test hooks"
