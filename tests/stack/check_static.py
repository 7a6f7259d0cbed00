"""Static checks of what ships beside the exporter.

* Every dashboard is well-formed: one `datasource` variable and no hard-coded data
  source uid, the account, region and service variables (the account variable shows
  account names and selects account ids), unique panel ids, a query in every target.
* Every metric named in alerts/ and grafana/ is one the exporter exports (read from the
  golden exposition) or a recording rule the shipped rules define, queries in alert
  annotations included.
* Every alert links its runbook, docs/runbooks/<AlertName>.md, and the file exists.
* The compose file is valid for Docker Compose v2 and every path it mounts exists; the
  exporter's OTLP endpoint in it reaches the collector's receiver.

Exits 1 with every problem listed.
"""
import json
import os
import re
import subprocess
import sys
import urllib.parse

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
problems = []


def problem(text):
    problems.append(text)


def load_rules():
    with open(os.path.join(ROOT, "alerts", "aws-quota-exporter.rules.yml")) as f:
        return yaml.safe_load(f)


def dashboards():
    folder = os.path.join(ROOT, "grafana", "dashboards")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            with open(os.path.join(folder, name)) as f:
                yield name, json.load(f)


def walk(value):
    """Every dict in a JSON document."""
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


def check_dashboards():
    uids = set()
    for name, d in dashboards():
        uid = d.get("uid")
        if not uid or uid in uids:
            problem(f"{name}: missing or duplicate dashboard uid {uid!r}")
        uids.add(uid)
        for field in ("title", "panels", "templating", "schemaVersion"):
            if field not in d:
                problem(f"{name}: no {field}")
        variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
        ds = variables.get("datasource")
        if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
            problem(f"{name}: no Prometheus `datasource` variable")
        for var in ("account", "region", "service"):
            if var not in variables:
                problem(f"{name}: no `{var}` variable")
        # Accounts are shown by name and selected by id: the panels filter on
        # cloud_account_id, people read names.
        account = variables.get("account", {})
        regex = account.get("regex", "")
        if "(?<text>" not in regex or "(?<value>" not in regex or "account_name" not in str(account.get("query")):
            problem(f"{name}: the `account` variable does not show account names with ids as values")
        # No data source may be named by anything but the variable.
        for obj in walk(d):
            source = obj.get("datasource")
            if isinstance(source, dict) and source.get("uid") != "${datasource}":
                problem(f"{name}: hard-coded data source {source}")
            if isinstance(source, str):
                problem(f"{name}: data source given by name {source!r}")
        ids = [p.get("id") for p in d.get("panels", [])]
        if len(ids) != len(set(ids)):
            problem(f"{name}: duplicate panel ids")
        for p in d.get("panels", []):
            title = p.get("title") or f"panel {p.get('id')}"
            if not p.get("title") or not p.get("type") or "gridPos" not in p:
                problem(f"{name}: panel {p.get('id')} lacks a title, type or position")
            if not p.get("description"):
                problem(f"{name}: {title} has no description")
            targets = p.get("targets", [])
            if not targets:
                problem(f"{name}: {title} has no query")
            refs = [t.get("refId") for t in targets]
            if len(refs) != len(set(refs)):
                problem(f"{name}: {title} repeats a refId")
            for t in targets:
                if not t.get("expr"):
                    problem(f"{name}: {title} has a target without an expression")


# Words of PromQL that look like metric names.
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
    "sum", "count", "max", "min", "avg", "topk", "bottomk", "rate", "increase", "scalar", "vector", "time",
    "sort", "sort_desc", "label_values", "abs", "clamp_min", "clamp_max", "absent", "inf", "nan",
}


def metric_names(expr):
    """Metric and recording-rule names in a PromQL expression (strings and label
    matchers removed; grouping labels and function names skipped)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "{}", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)  # label lists
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    names = set()
    for m in re.finditer(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?", expr):
        name, call = m.group(1), m.group(2)
        if call or name in KEYWORDS or re.fullmatch(r"\d.*", name):
            continue
        names.add(name)
    return names


def annotation_queries(text):
    """PromQL that an annotation template runs: each backquoted string piped, through
    printf or not, to `query`."""
    return re.findall(r"`([^`]*)`[^`|}]*\|\s*query\b", text)


def exported():
    """Sample names the exporter exports, from the golden exposition."""
    names = set()
    with open(os.path.join(ROOT, "tests", "golden", "metrics.prom")) as f:
        for line in f:
            if line.startswith("# TYPE "):
                names.add(line.split()[2])
    return names


def check_metric_names():
    rules = load_rules()
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    # ALERTS is Prometheus's own series of the alerts (the hysteresis reads it).
    known = exported() | recorded | {"up", "ALERTS"}
    places = []
    for g in rules["groups"]:
        for r in g["rules"]:
            places.append((f"alerts: {r.get('alert') or r.get('record')}", r["expr"]))
            for key, text in r.get("annotations", {}).items():
                for q in annotation_queries(text):
                    places.append((f"alerts: {r['alert']} ({key})", re.sub(r"%[qsdv]", '""', q)))
    for name, d in dashboards():
        for p in d.get("panels", []):
            for t in p.get("targets", []):
                places.append((f"{name}: {p.get('title')}", t.get("expr", "")))
        for v in d.get("templating", {}).get("list", []):
            q = v.get("query")
            if isinstance(q, dict):
                # label_values(<series selector>, <label name>): only the selector names metrics.
                m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q.get("query", ""))
                places.append((f"{name}: variable {v['name']}", m.group(1) if m else q.get("query", "")))
    for where, expr in places:
        for n in metric_names(expr):
            if n not in known:
                problem(f"{where}: {n} is neither exported nor recorded")


def check_runbooks():
    """Every alert links docs/runbooks/<AlertName>.md, and that file exists."""
    rules = load_rules()
    for g in rules["groups"]:
        for r in g["rules"]:
            if "alert" not in r:
                continue
            url = r.get("annotations", {}).get("runbook_url", "")
            want = f"/docs/runbooks/{r['alert']}.md"
            if not url.endswith(want):
                problem(f"alerts: {r['alert']} links {url!r}, expected a URL ending in {want}")
            if not os.path.exists(os.path.join(ROOT, want.lstrip("/"))):
                problem(f"alerts: {r['alert']} has no runbook {want.lstrip('/')}")


def check_compose():
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    for service, spec in compose["services"].items():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                if not os.path.exists(os.path.join(ROOT, source)):
                    problem(f"docker-compose.yml: {service} mounts {source}, which does not exist")
        if "build" in spec:
            context = spec["build"] if isinstance(spec["build"], str) else spec["build"]["context"]
            if not os.path.exists(os.path.join(ROOT, context, "Dockerfile")):
                problem(f"docker-compose.yml: {service} builds from {context}, which has no Dockerfile")
        for port in spec.get("ports", []):
            # Alertmanager's API and the receiver must not be reachable from other hosts.
            if not str(port).startswith("127.0.0.1:"):
                problem(f"docker-compose.yml: {service} publishes {port} on every interface; bind it to 127.0.0.1")
    plugin = os.path.join(ROOT, ".venv", "lib", "python3.11", "site-packages", "compose", "docker-compose")
    result = subprocess.run([plugin, "-f", os.path.join(ROOT, "docker-compose.yml"), "config", "--quiet"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        problem(f"docker-compose.yml: Compose v2 rejects it: {result.stderr.strip()}")


def check_no_committed_secrets():
    """The compose stack's receiver token is generated at first start, never committed:
    nothing but the .gitignore is tracked under deploy/secrets."""
    tracked = subprocess.run(["git", "-C", ROOT, "ls-files", "deploy/secrets"], capture_output=True, text=True)
    if tracked.returncode != 0:
        return  # not a git checkout (an exported tarball): nothing to check
    for path in tracked.stdout.split():
        if path != "deploy/secrets/.gitignore":
            problem(f"{path} is committed; the stack generates its secrets at first start")


def check_otel_collector():
    """The exporter's OTLP endpoint in the compose file reaches the collector's receiver,
    over the protocol the exporter uses, and a metrics pipeline takes it in."""
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    with open(os.path.join(ROOT, "deploy", "otel-collector.yml")) as f:
        collector = yaml.safe_load(f)
    env = dict(e.split("=", 1) for e in compose["services"]["exporter"]["environment"] if "=" in e)
    endpoint = urllib.parse.urlsplit(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", ""))
    protocol = "grpc" if env.get("OTEL_EXPORTER_OTLP_PROTOCOL") == "grpc" else "http"
    if endpoint.hostname not in compose["services"]:
        problem(f"docker-compose.yml: the exporter pushes to {endpoint.hostname!r}, which is not a service")
        return
    served = collector["receivers"]["otlp"]["protocols"].get(protocol, {}).get("endpoint", "")
    if not served.endswith(f":{endpoint.port}"):
        problem(f"deploy/otel-collector.yml: the {protocol} receiver listens on {served!r}, "
                f"the exporter pushes to port {endpoint.port}")
    if "otlp" not in collector["service"]["pipelines"].get("metrics", {}).get("receivers", []):
        problem("deploy/otel-collector.yml: no metrics pipeline receives from otlp")


def self_test():
    """The name extraction must find what it should and nothing else."""
    got = metric_names('sum by (model_id, aws_service) (rate(aws_bedrock_invocations_total{kind=~"a|b"}[15m])) '
                       '/ on (cloud_region) group_left (quota_name) x:y:z >= scalar(threshold:t:r{severity="info"})')
    assert got == {"aws_bedrock_invocations_total", "x:y:z", "threshold:t:r"}, got
    got = annotation_queries('{{ range printf `max by (a) (m{b=%q}) >= scalar(t:u:v)` $labels.b | query }}'
                             '{{ .Value }}{{ end }} {{ with `n` | query }}{{ end }} `not a query`')
    assert got == ["max by (a) (m{b=%q}) >= scalar(t:u:v)", "n"], got


if __name__ == "__main__":
    self_test()
    check_dashboards()
    check_metric_names()
    check_runbooks()
    check_compose()
    check_no_committed_secrets()
    check_otel_collector()
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)
    count = sum(1 for _ in dashboards())
    print(f"static checks passed: {count} dashboards, rules, compose file")
