"""Parses an OpenMetrics exposition with the reference parser; exits 1 on any error."""
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

path = sys.argv[1]
with open(path, encoding="utf-8") as f:
    text = f.read()
try:
    samples = sum(len(family.samples) for family in text_string_to_metric_families(text))
except Exception as e:  # the parser raises ValueError and friends
    print(f"{path}: invalid OpenMetrics: {e}", file=sys.stderr)
    sys.exit(1)
print(f"{path}: valid OpenMetrics, {samples} samples")
