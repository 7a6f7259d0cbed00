#!/usr/bin/env bash
# Runs alerts/auto-increase.test.yml against the shipped rules with the automatic
# increase switch turned on: the one line a user changes.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
switch='label_replace(vector(1), "auto_increase", "false", "", "")'
grep -qF "$switch" alerts/aws-quota-exporter.rules.yml || { echo "the switch line is not in the rules" >&2; exit 1; }
sed 's/label_replace(vector(1), "auto_increase", "false", "", "")/label_replace(vector(1), "auto_increase", "true", "", "")/' \
  alerts/aws-quota-exporter.rules.yml > "$tmp/aws-quota-exporter.rules.yml"
cp alerts/auto-increase.test.yml "$tmp/"
promtool test rules "$tmp/auto-increase.test.yml"
