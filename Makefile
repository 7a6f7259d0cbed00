# The single entry point. `make test` is what CI runs (.ci/run) and what the README
# tells you to run; it installs what it needs first, idempotently.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CARGO ?= cargo
EXPORTER := target/debug/aws-quota-exporter

.PHONY: all demo test deps lint unit golden-lint rules static stack otlp exporter-binary bench clean

all: test

## Runs the exporter against the built-in simulated AWS estate on :9767.
demo:
	$(CARGO) run -- --demo

## Everything CI checks: formatting, clippy, every test, the golden files' lint, the
## rules, dashboards and compose file, the whole stack against real Prometheus, and
## the OTLP push into a real collector.
test: deps lint unit golden-lint rules static stack otlp

## Tools from Debian and PyPI (promtool, amtool, an OpenMetrics parser).
deps:
	@scripts/deps.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

## The committed golden expositions pass promtool and a strict OpenMetrics parser.
golden-lint:
	promtool check metrics < tests/golden/metrics.prom
	$(PY) scripts/check_openmetrics.py tests/golden/metrics.openmetrics

## The shipped rules, Prometheus and Alertmanager configurations, with their own tools.
rules:
	promtool check rules alerts/aws-quota-exporter.rules.yml
	promtool test rules alerts/aws-quota-exporter.test.yml
	promtool check config deploy/prometheus.yml
	amtool check-config alerts/alertmanager.yml

## Dashboards' structure, metric names in rules and dashboards, the compose file.
static:
	$(PY) tests/stack/check_static.py

## The demo exporter, Prometheus with the shipped rules and Alertmanager, on loopback.
# The binary as the tests build it: the same features, so the dependencies are not
# compiled a second time without the dev-dependencies' features.
exporter-binary:
	$(CARGO) test --no-run --quiet --test api

stack: exporter-binary
	$(PY) tests/stack/test_stack.py $(EXPORTER)

## The demo exporter pushing over gRPC and HTTP/protobuf into a real OTLP collector.
otlp: exporter-binary
	$(PY) tests/stack/test_otlp.py $(EXPORTER)

## Prints the benchmark figures quoted in the README (release build).
bench:
	$(CARGO) bench --bench exporter

clean:
	$(CARGO) clean
	rm -rf $(VENV)
