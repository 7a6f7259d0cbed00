"""End to end OTLP: the demo exporter binary pushes to a real OpenTelemetry collector
(Rotel, from PyPI) over both protocols, and what the collector received is what
/metrics serves at the same moment, family by family and point by point.

Two exporters run side by side, one pushing over gRPC and one over HTTP/protobuf, each
naming itself through OTEL_RESOURCE_ATTRIBUTES. The collector prints every data point
it receives (its debug log at "detailed" verbosity); this script parses that log.

Usage: test_otlp.py <exporter binary>
"""
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_stack import free_port, wait_for  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROTEL = os.path.join(os.path.dirname(sys.executable), "..", "lib",
                     f"python{sys.version_info.major}.{sys.version_info.minor}",
                     "site-packages", "rotel", "rotel-agent")
# Families that count the pushes themselves: they move with every push.
LIVE = {"aws_quota_exporter_otlp_exports", "aws_quota_exporter_otlp_last_export_duration_seconds"}
ATTRIBUTE = {"cloud_account_id": "cloud.account.id", "cloud_region": "cloud.region"}


def catalog():
    """Every family name and its Prometheus type, from the golden exposition."""
    with open(os.path.join(ROOT, "tests", "golden", "metrics.prom")) as f:
        types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", f.read(), flags=re.M))
    return {name.removesuffix("_total") if kind == "counter" else name: kind for name, kind in types.items()}


def scrape(port):
    """name -> {frozenset of OTLP-named attributes: value}, from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            name = s.name.removesuffix("_total") if family.type == "counter" else s.name
            attrs = {ATTRIBUTE.get(k, k): v for k, v in s.labels.items()}
            if "cloud.account.id" in attrs or "cloud.region" in attrs:
                attrs["cloud.provider"] = "aws"
            out.setdefault(name, {})[frozenset(attrs.items())] = s.value
    return out


ATTR_LINE = re.compile(r"^\s+-> (\S+): Str\((.*)\)$")
DESCRIPTOR = re.compile(r"^\s+-> (Name|DataType|IsMonotonic|AggregationTemporality): (.*)$")


def parse_log(path):
    """The pushes the collector logged, in order: (resource attributes, metrics), where
    metrics is name -> {"type": ..., "points": {frozenset attributes: value}, "time": ns}."""
    pushes = []
    resource = metric = point = None
    section = None
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if re.match(r"^ResourceMetrics #\d+$", line):
                resource = {}
                pushes.append((resource, {}))
                section, metric, point = "resource", None, None
            elif pushes and line == "Resource attributes:":
                section = "resource"
            elif pushes and re.match(r"^Metric #\d+$", line):
                metric, point, section = {"points": {}, "time": 0}, None, "descriptor"
            elif metric is not None and line.startswith("NumberDataPoints #"):
                point, section = {}, "point"
            elif section == "resource" and (m := ATTR_LINE.match(line)):
                resource[m.group(1)] = m.group(2)
            elif section == "descriptor" and (m := DESCRIPTOR.match(line)):
                metric[m.group(1)] = m.group(2)
                if m.group(1) == "Name":
                    pushes[-1][1][m.group(2)] = metric
            elif section == "point" and (m := ATTR_LINE.match(line)):
                point[m.group(1)] = m.group(2)
            elif section == "point" and line.startswith("Timestamp: "):
                metric["time"] = max(metric["time"], int(line.split()[1]))
            elif section == "point" and line.startswith("Value: "):
                metric["points"][frozenset(point.items())] = float(line.split()[1])
                section = None
    return pushes


def compare(pushed, scraped, kinds):
    """The differences between one push and one scrape, as readable lines."""
    problems = []
    for name, kind in sorted(kinds.items()):
        if name in LIVE:
            continue
        got = pushed.get(name)
        want = scraped.get(name, {})
        if got is None:
            if want:
                problems.append(f"{name}: not pushed, {len(want)} series on /metrics")
            continue
        expected_type = "Sum" if kind == "counter" else "Gauge"
        if got.get("DataType") != expected_type:
            problems.append(f"{name}: pushed as {got.get('DataType')}, expected {expected_type}")
        if kind == "counter" and (got.get("IsMonotonic") != "true"
                                  or "CUMULATIVE" not in got.get("AggregationTemporality", "")):
            problems.append(f"{name}: a counter must be a monotonic cumulative sum: {got}")
        if got["points"] != want:
            only_pushed = set(got["points"]) - set(want)
            only_scraped = set(want) - set(got["points"])
            differ = [k for k in set(want) & set(got["points"]) if want[k] != got["points"][k]]
            problems.append(f"{name}: {len(only_pushed)} points only pushed, {len(only_scraped)} only on "
                            f"/metrics, {len(differ)} differ, e.g. "
                            f"{sorted(only_pushed or only_scraped or differ, key=str)[:1]}")
    for name in sorted(set(pushed) - set(kinds)):
        problems.append(f"{name}: pushed but not in the catalog")
    return problems


def main(binary):
    tmp = tempfile.mkdtemp(prefix="aqe-otlp-")
    grpc_port, http_port = free_port(), free_port()
    procs = []
    log_path = os.path.join(tmp, "rotel.log")

    def start(name, args, env=None):
        log = open(os.path.join(tmp, name + ".log"), "w") if name != "rotel" else open(log_path, "w")
        procs.append((name, subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)))

    try:
        start("rotel", [ROTEL, "start",
                        "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}",
                        "--otlp-http-endpoint", f"127.0.0.1:{http_port}",
                        "--exporter", "blackhole",
                        "--debug-log", "metrics", "--debug-log-verbosity", "detailed",
                        "--disable-batching"])
        exporters = {}
        for protocol, port in (("grpc", grpc_port), ("http/protobuf", http_port)):
            instance = "e2e-" + protocol.replace("/", "-")
            listen = free_port()
            env = dict(os.environ)
            env.update({
                "QUOTA_EXPORTER_LISTEN_ADDRESS": f"127.0.0.1:{listen}",
                "QUOTA_EXPORTER_LOG_LEVEL": "warn",
                "QUOTA_EXPORTER_BEDROCK_LAG": "1m",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
                "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
                "OTEL_METRIC_EXPORT_INTERVAL": "2000",
                "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id={instance},deployment.environment.name=ci",
            })
            start("exporter-" + instance, [binary, "--demo"], env)
            exporters[instance] = (protocol, listen)

        kinds = catalog()
        failures = []
        for instance, (protocol, listen) in exporters.items():
            # Ready, and the Bedrock runtime families (the last to arrive) are in.
            wait_for(f"{instance} to be ready with Bedrock data",
                     lambda: ("aws_bedrock_invocations" in scrape(listen), instance))
            attempts, problems = 0, None
            while attempts < 5 and problems != []:
                attempts += 1
                scraped = scrape(listen)
                after = time.time_ns()

                def next_push():
                    for resource, metrics in reversed(parse_log(log_path)):
                        if resource.get("service.instance.id") != instance:
                            continue
                        if max((m["time"] for m in metrics.values()), default=0) > after:
                            return True, (resource, metrics)
                        return False, "no push since the scrape yet"
                    return False, "no push from this instance yet"

                resource, pushed = wait_for(f"a push from {instance}", next_push, timeout=60, interval=1)
                # A refresh between the scrape and the push legitimately changes figures;
                # such a pair is retried, a persistent difference is a failure.
                problems = compare(pushed, scraped, kinds)
            want_resource = {"service.name": "aws-quota-exporter", "service.instance.id": instance,
                             "deployment.environment.name": "ci"}
            for k, v in want_resource.items():
                if resource.get(k) != v:
                    problems.append(f"resource attribute {k}={resource.get(k)!r}, expected {v!r}")
            if not resource.get("service.version"):
                problems.append("resource attribute service.version is missing")
            families = sum(1 for n in pushed if pushed[n]["points"])
            points = sum(len(m["points"]) for m in pushed.values())
            if families < 30 or points < 500:
                problems.append(f"only {families} families and {points} points pushed")
            exports = scrape(listen).get("aws_quota_exporter_otlp_exports", {})
            ok = sum(v for k, v in exports.items() if ("outcome", "ok") in k)
            errors = sum(v for k, v in exports.items() if ("outcome", "error") in k)
            if ok < 1 or errors:
                problems.append(f"aws_quota_exporter_otlp_exports_total: {ok} ok, {errors} errors")
            status = "ok" if not problems else "FAILED"
            print(f"{protocol:>13}: {families} families, {points} points pushed equal /metrics "
                  f"(attempt {attempts}): {status}")
            failures += [f"{protocol}: {p}" for p in problems]
        if failures:
            print("\n".join(failures))
            print(f"logs in {tmp}")
            sys.exit(1)
    finally:
        for _, p in procs:
            p.terminate()
        for _, p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main(sys.argv[1])
