"""End to end with the real programs: the demo exporter, Prometheus with the shipped rules,
Alertmanager with the shipped configuration, all on 127.0.0.1.

1. Every query of every dashboard panel and variable and every rule expression (but
   the two on increase requests and the spike alert, see NOT_IN_THIS_RUN) runs against
   Prometheus and returns data: the demo estate is built so that each has something to show (its
   deliberate faults make the exporter-health alerts fire; a second, dead target in the
   exporter's job makes AwsQuotaExporterDown fire).
2. The demo's quotas at 70, 80 and 90 % fire the right tiers through Prometheus into
   Alertmanager, where the inhibition rules leave only the highest tier of each quota.
3. Tuning (the overrides file): Payments' Standard vCPUs (76.5 %) are made critical at
   75 %, Management's muted until tomorrow; a threshold changed in the file moves the
   next evaluation, without touching the rules, and a firing tier resolves only below
   its threshold less the hysteresis margin. Through the real Alertmanager, each quota
   and tier is notified once, whatever the number of evaluations.
4. The demo is a small organization: Management (the exporter's own account) and
   Payments, whose usage is 0.9 times Management's, are collected; Sandbox's role
   refuses to be assumed (AwsQuotaExporterAccountDown, and no quota series); a
   suspended account is not collected at all. The Lambda quota at 95 % in Management
   is at about 85 % in Payments: warning in both, critical only in Management, and
   AwsQuotaHotInSeveralAccounts lists both accounts. Alerts name the accounts.

Only one thing differs from what ships: every `for:` is shortened to 10 seconds, since
the promtool unit tests pin the real durations and CI cannot wait an hour.

Usage: test_stack.py <exporter binary>
"""
import http.server
import json
import os
import re
import threading
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The demo organization (crates/simaws/src/demo).
MANAGEMENT = "111122223333"
PAYMENTS = "444455556666"
SANDBOX = "777788889999"
SUSPENDED = "222233334444"
NAMES = {MANAGEMENT: "Management", PAYMENTS: "Payments", SANDBOX: "Sandbox"}
TIMEOUT = 240


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def wait_for(what, check, timeout=TIMEOUT, interval=2):
    """Calls `check` until it returns (True, value); on timeout, reports its last detail."""
    deadline = time.time() + timeout
    detail = None
    while time.time() < deadline:
        try:
            done, detail = check()
            if done:
                return detail
        except Exception as e:  # not up yet
            detail = e
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}: {detail}")


def ready(url):
    return urllib.request.urlopen(url, timeout=5).status == 200, url


class Stack:
    """The demo exporter, Prometheus with the shipped rules (every `for:` shortened to
    10 seconds) and Alertmanager with the shipped configuration, on loopback.
    `exporter_env`, `edit_rules` (text to text) and `edit_alertmanager` (parsed YAML in
    place) adapt them for a test."""

    def __init__(self, exporter_binary, exporter_env=None, edit_rules=None, edit_alertmanager=None):
        self.tmp = tempfile.mkdtemp(prefix="aqe-stack-")
        # The receiver's token, made as the compose stack makes it: 32 random bytes in
        # hex, in a file only its owner can read.
        self.token_file = os.path.join(self.tmp, "increase-token")
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex())
        self.exporter_port, self.prom_port, self.am_port = free_port(), free_port(), free_port()
        self.dead_port = free_port()  # nothing listens here: a target that is down
        self.procs = []
        self.exporter_binary = exporter_binary
        self.exporter_env = exporter_env or {}
        self.edit_rules = edit_rules or (lambda text: text)
        self.edit_alertmanager = edit_alertmanager or (lambda config: None)

    def start(self, name, args, env=None):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.procs.append((name, p))
        return p

    def prometheus(self, path, **params):
        q = urllib.parse.urlencode(params)
        return get_json(f"http://127.0.0.1:{self.prom_port}{path}?{q}")

    def up(self):
        env = dict(os.environ)
        env.update({
            "QUOTA_EXPORTER_LISTEN_ADDRESS": f"127.0.0.1:{self.exporter_port}",
            "QUOTA_EXPORTER_USAGE_REFRESH_INTERVAL": "10s",
            "QUOTA_EXPORTER_LIMITS_REFRESH_INTERVAL": "30s",
            "QUOTA_EXPORTER_BEDROCK_LAG": "1m",
            # Every usage metric at every 10-second refresh (the adaptive cadence reads a
            # metric at most once a minute, its datapoints' resolution): the throttling
            # alert below counts GetMetricData calls, and needs them within the wait.
            # tests/api/cadence.rs and `make bench` cover the cadence itself.
            "QUOTA_EXPORTER_USAGE_SLOWEST_INTERVAL": "10s",
            # A budget below what the usage reads cost, so that the budget rule has data.
            "QUOTA_EXPORTER_CLOUDWATCH_BUDGET": "0.01",
            "QUOTA_EXPORTER_LOG_LEVEL": "warn",
        })
        env.update(self.exporter_env)
        self.start("exporter", [self.exporter_binary, "--demo"], env)

        with open(os.path.join(ROOT, "alerts", "aws-quota-exporter.rules.yml")) as f:
            rules = f.read()
        fast = re.sub(r"^(\s+for:) \S+$", r"\1 10s", rules, flags=re.M)
        assert fast.count("for: 10s") == rules.count("for:"), "every for: is shortened"
        with open(os.path.join(self.tmp, "rules.yml"), "w") as f:
            f.write(self.edit_rules(fast))
        with open(os.path.join(ROOT, "alerts", "alertmanager.yml")) as f:
            am_config = yaml.safe_load(f)
        # The receiver is this exporter, with its token file.
        for receiver in am_config["receivers"]:
            for hook in receiver.get("webhook_configs", []):
                hook["url"] = f"http://127.0.0.1:{self.exporter_port}/alertmanager/webhook"
                hook["http_config"]["authorization"]["credentials_file"] = self.token_file
        self.edit_alertmanager(am_config)
        with open(os.path.join(self.tmp, "alertmanager.yml"), "w") as f:
            yaml.safe_dump(am_config, f)
        config = {
            "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
            "rule_files": [os.path.join(self.tmp, "rules.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.am_port}"]}]}]},
            "scrape_configs": [{
                "job_name": "aws-quota-exporter",
                "static_configs": [{"targets": [f"127.0.0.1:{self.exporter_port}", f"127.0.0.1:{self.dead_port}"]}],
            }],
        }
        with open(os.path.join(self.tmp, "prometheus.yml"), "w") as f:
            yaml.safe_dump(config, f)
        self.start("alertmanager", [
            "prometheus-alertmanager",
            f"--config.file={os.path.join(self.tmp, 'alertmanager.yml')}",
            f"--storage.path={os.path.join(self.tmp, 'am')}",
            f"--web.listen-address=127.0.0.1:{self.am_port}",
            "--cluster.listen-address=",
        ])
        self.start("prometheus", [
            "prometheus",
            f"--config.file={os.path.join(self.tmp, 'prometheus.yml')}",
            f"--storage.tsdb.path={os.path.join(self.tmp, 'tsdb')}",
            f"--web.listen-address=127.0.0.1:{self.prom_port}",
        ])
        wait_for("the exporter to be ready", lambda: ready(f"http://127.0.0.1:{self.exporter_port}/-/ready"))
        wait_for("Prometheus", lambda: ready(f"http://127.0.0.1:{self.prom_port}/-/ready"))
        wait_for("Alertmanager", lambda: ready(f"http://127.0.0.1:{self.am_port}/-/ready"))

    def down(self):
        for _, p in self.procs:
            p.terminate()
        for _, p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    def logs(self):
        for name, _ in self.procs:
            with open(os.path.join(self.tmp, name + ".log")) as f:
                tail = f.read()[-3000:]
            print(f"--- {name} log (tail) ---\n{tail}", file=sys.stderr)


def dashboard_queries():
    folder = os.path.join(ROOT, "grafana", "dashboards")
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as f:
            d = json.load(f)
        for p in d["panels"]:
            for t in p.get("targets", []):
                yield f"{name} / {p['title']} / {t['refId']}", t["expr"]
        for v in d.get("templating", {}).get("list", []):
            q = v.get("query")
            if isinstance(q, dict):
                expr = variable_expr(q.get("query", ""))
                if expr:
                    yield f"{name} / variable {v['name']}", expr


def variable_expr(query):
    """The PromQL a Grafana query variable runs: the selector of label_values(), the
    expression of query_result()."""
    m = re.fullmatch(r"label_values\((.*),\s*\w+\)", query) or re.fullmatch(r"query_result\((.*)\)", query)
    return m.group(1) if m else None


# Alerts on the increase receiver's failures and AWS's denials: this run files nothing.
# test_increase.py sees AwsQuotaIncreaseRequestDenied fire on a real denial; both are
# pinned, first series included, by the promtool unit tests.
# AwsQuotaUsageSpike needs a quota below its critical tier whose peak of the last hour
# reached it and whose critical alert did not fire: here every metric is read at every
# refresh, so each quota at its tier fires its critical alert; tests/api/cadence.rs
# shows the peak of a spike between two reads, promtool pins the rule.
NOT_IN_THIS_RUN = {"AwsQuotaIncreaseRequestFailed", "AwsQuotaIncreaseRequestDenied", "AwsQuotaUsageSpike"}


def rule_queries():
    with open(os.path.join(ROOT, "alerts", "aws-quota-exporter.rules.yml")) as f:
        rules = yaml.safe_load(f)
    for g in rules["groups"]:
        for r in g["rules"]:
            name = r.get("alert") or r.get("record")
            if name not in NOT_IN_THIS_RUN:
                yield f"rule {name} ({r.get('labels', {}).get('severity', '')})", r["expr"]


# Grafana's variables as "All" and its built-in intervals.
SUBSTITUTIONS = {"$account": ".*", "$region": ".*", "$service": ".*", "$model": ".*",
                 "$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}


def substitute(expr):
    for k, v in SUBSTITUTIONS.items():
        expr = expr.replace(k, v)
    return expr


# The demo's alerts and the labels each must carry. Utilisation tiers and their inhibition:
# (alertname, severity, identifying labels, whether Alertmanager must suppress it).
# Every alert about an account names the account: the first entries pin Management's
# alerts as before, the next ones what Payments, Sandbox and the organization add.
M = {"cloud_account_id": MANAGEMENT, "account_name": "Management"}
P = {"cloud_account_id": PAYMENTS, "account_name": "Payments"}
LAMBDA = {"cloud_region": "us-east-1", "service_code": "lambda", "quota_code": "L-B99A9384"}
EXPECTED = [
    ("AwsQuotaUtilizationHigh", "critical", {**M, **LAMBDA}, False),
    ("AwsQuotaUtilizationHigh", "warning", {**M, **LAMBDA}, True),
    ("AwsQuotaUtilizationHigh", "info", {**M, **LAMBDA}, True),
    # Management's Standard vCPUs (85 %) are muted by the overrides file: see NOT_EXPECTED.
    ("AwsQuotaUtilizationHigh", "info", {**M, "service_code": "ec2", "quota_code": "L-DB2E81BA"}, False),
    ("AwsQuotaForecastExhaustion", "warning", {**M, "service_code": "vpc", "quota_code": "L-F678F1CE"}, False),
    ("AwsQuotaBedrockUtilizationHigh", "critical", {**M, "model_id": "amazon.titan-embed-text-v2:0", "kind": "tokens_per_minute"}, False),
    ("AwsQuotaBedrockUtilizationHigh", "warning", {**M, "model_id": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "kind": "tokens_per_minute"}, False),
    ("AwsQuotaBedrockUtilizationHigh", "info", {**M, "model_id": "us.meta.llama3-1-70b-instruct-v1:0", "kind": "tokens_per_minute"}, False),
    ("AwsQuotaBedrockThrottlingHigh", "warning", {**M, "model_id": "us.meta.llama3-1-70b-instruct-v1:0"}, False),
    ("AwsQuotaBedrockForecastExhaustion", "warning", {**M, "model_id": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}, False),
    ("AwsQuotaExporterDown", "critical", {}, False),
    ("AwsQuotaExporterRefreshFailing", "warning", {**M, "cloud_region": "eu-west-1", "source": "service_quotas"}, False),
    ("AwsQuotaExporterDataStale", "warning", {**M, "cloud_region": "eu-west-1", "source": "bedrock_runtime"}, False),
    ("AwsQuotaExporterAwsApiThrottling", "warning", {**M, "cloud_region": "us-east-1", "aws_service": "cloudwatch"}, False),
    ("AwsQuotaExporterAwsApiErrors", "warning", {**M, "cloud_region": "eu-west-1", "aws_service": "cloudwatch"}, False),
    # Payments at 0.9 times: Lambda at about 85 % is warning there (nothing above it to
    # inhibit it), EC2's 85 % becomes about 76 %, info.
    ("AwsQuotaUtilizationHigh", "warning", {**P, **LAMBDA}, False),
    ("AwsQuotaUtilizationHigh", "info", {**P, **LAMBDA}, True),
    # Payments' Standard vCPUs, 76.5 %, critical at 75 % by the overrides file.
    ("AwsQuotaUtilizationHigh", "critical", {**P, "cloud_region": "us-east-1", "service_code": "ec2", "quota_code": "L-1216C47A"}, False),
    ("AwsQuotaUtilizationHigh", "warning", {**P, "cloud_region": "us-east-1", "service_code": "ec2", "quota_code": "L-1216C47A"}, True),
    ("AwsQuotaUtilizationHigh", "info", {**P, "cloud_region": "us-east-1", "service_code": "ec2", "quota_code": "L-1216C47A"}, True),
    # Lambda above the warning tier in both accounts of us-east-1.
    ("AwsQuotaHotInSeveralAccounts", "warning", LAMBDA, False),
    # eu-west-1, us-east-1's standby, may run 32 G and VT vCPUs; us-east-1 runs 48
    # (43.2 in Payments): short in both accounts.
    ("AwsQuotaFailoverCapacityShort", "warning", {**M, "primary_region": "us-east-1", "standby_region": "eu-west-1", "service_code": "ec2", "quota_code": "L-DB2E81BA"}, False),
    ("AwsQuotaFailoverCapacityShort", "warning", {**P, "primary_region": "us-east-1", "standby_region": "eu-west-1", "service_code": "ec2", "quota_code": "L-DB2E81BA"}, False),
    # Sandbox's role cannot be assumed.
    ("AwsQuotaExporterAccountDown", "warning", {"cloud_account_id": SANDBOX, "account_name": "Sandbox"}, False),
]

# What must not fire: Payments' Lambda quota is not critical, and no quota is hot in
# several accounts in eu-west-1 (Lambda is at 50 % there).
NOT_EXPECTED = [
    ("AwsQuotaUtilizationHigh", "critical", {**P, **LAMBDA}),
    # Muted by the overrides file.
    ("AwsQuotaUtilizationHigh", "warning", {**M, "cloud_region": "us-east-1", "service_code": "ec2", "quota_code": "L-1216C47A"}),
    ("AwsQuotaUtilizationHigh", "info", {**M, "cloud_region": "us-east-1", "service_code": "ec2", "quota_code": "L-1216C47A"}),
    # eu-west-1's Standard vCPUs (640) carry us-east-1's 544.
    ("AwsQuotaFailoverCapacityShort", "warning", {"service_code": "ec2", "quota_code": "L-1216C47A"}),
    ("AwsQuotaHotInSeveralAccounts", "warning", {"cloud_region": "eu-west-1"}),
]


def matches(alert_labels, name, severity, labels):
    return (alert_labels.get("alertname") == name and alert_labels.get("severity") == severity
            and all(alert_labels.get(k) == v for k, v in labels.items()))


def overrides(g_info=None):
    """The overrides file of this run; `g_info` adds an info tier (percent) for
    Management's G and VT vCPUs in us-east-1 (75 % used)."""
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 2 * 86400))
    entries = [
        {"account": PAYMENTS, "region": "us-east-1", "service": "ec2", "quota": "L-1216C47A",
         "info": 60, "warning": 70, "critical": 75},
        {"account": "1111*", "region": "us-east-1", "service": "ec2", "quota": "L-1216C47A",
         "mute_until": tomorrow, "reason": "capacity reservation in progress"},
    ]
    # A glob that matches no quota: reported by its line, never an error.
    entries.append({"service": "ec2", "quota": "L-NOSUCH*", "critical": 95})
    if g_info is not None:
        entries.append({"account": MANAGEMENT, "region": "us-east-1", "service": "ec2", "quota": "L-DB2E81BA",
                        "info": g_info})
    return yaml.safe_dump({"overrides": entries})


def write_atomically(path, text):
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


class Sink:
    """Records the notifications Alertmanager sends its default receiver."""

    def __init__(self):
        self.notifications = []
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                sink.notifications.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def main():
    binary = sys.argv[1]
    sink = Sink()
    tmp = tempfile.mkdtemp(prefix="aqe-overrides-")
    overrides_file = os.path.join(tmp, "overrides.yaml")
    write_atomically(overrides_file, overrides())

    def notify_sink(config):
        for receiver in config["receivers"]:
            if receiver["name"] == "default":
                receiver["webhook_configs"] = [{"url": sink.url, "send_resolved": False}]

    stack = Stack(binary, exporter_env={"QUOTA_EXPORTER_ALERT_OVERRIDES": overrides_file},
                  edit_alertmanager=notify_sink)
    failures = []
    try:
        stack.up()

        def firing_in_prometheus():
            alerts = stack.prometheus("/api/v1/alerts")["data"]["alerts"]
            firing = [a["labels"] for a in alerts if a["state"] == "firing"]
            missing = [e[:3] for e in EXPECTED if not any(matches(a, *e[:3]) for a in firing)]
            return not missing, f"not firing yet: {missing}"

        wait_for("every expected alert to fire in Prometheus", firing_in_prometheus)
        alerts = stack.prometheus("/api/v1/alerts")["data"]["alerts"]
        for name, severity, labels in NOT_EXPECTED:
            if any(matches(a["labels"], name, severity, labels) for a in alerts):
                failures.append(f"Prometheus: {name} {severity} {labels} fires or is pending")
        for a in alerts:
            account = a["labels"].get("cloud_account_id")
            if account == SUSPENDED:
                failures.append(f"Prometheus: {a['labels']['alertname']} is about the suspended account")
            elif account == SANDBOX and not a["labels"]["alertname"].startswith("AwsQuotaExporter"):
                failures.append(f"Prometheus: {a['labels']['alertname']} is about Sandbox, which has no quotas")
            elif account in NAMES and a["labels"].get("account_name") != NAMES[account]:
                failures.append(f"Prometheus: {a['labels']['alertname']} names {account} {a['labels'].get('account_name')!r}")

        # 1. Every query returns data.
        queries = list(dashboard_queries()) + list(rule_queries())
        for where, expr in queries:
            result = stack.prometheus("/api/v1/query", query=substitute(expr))
            if result.get("status") != "success":
                failures.append(f"{where}: query failed: {result}")
            elif not result["data"]["result"]:
                failures.append(f"{where}: no data for {substitute(expr)}")
        print(f"{len(queries)} queries run against Prometheus")

        # 2. The tiers reach Alertmanager, and inhibition keeps only the highest.
        def in_alertmanager():
            alerts = get_json(f"http://127.0.0.1:{stack.am_port}/api/v2/alerts")
            found = []
            for name, severity, labels, suppressed in EXPECTED:
                hits = [a for a in alerts if matches(a["labels"], name, severity, labels)]
                if not hits:
                    return False, f"{name} {severity} {labels} has not arrived"
                state = hits[0]["status"]["state"]
                found.append((name, severity, labels, suppressed, state, hits[0]))
            # Inhibition applies once Alertmanager has the higher tier too.
            settled = all(state == ("suppressed" if suppressed else "active") for _, _, _, suppressed, state, _ in found)
            return settled, found

        found = wait_for("the alerts to reach Alertmanager", in_alertmanager)
        for name, severity, labels, suppressed, state, alert in found:
            want = "suppressed" if suppressed else "active"
            if state != want:
                failures.append(f"Alertmanager: {name} {severity} {labels} is {state}, expected {want}")
            if suppressed and not alert["status"]["inhibitedBy"]:
                failures.append(f"Alertmanager: {name} {severity} {labels} is not inhibited")

        def alert_of(name, severity, labels):
            return next(a for n, s, l, _, _, a in found if (n, s, l) == (name, severity, labels))

        lambda_critical = alert_of("AwsQuotaUtilizationHigh", "critical", {**M, **LAMBDA})
        for key, value in {"quota_name": "Concurrent executions", "cloud_region": "us-east-1", "adjustable": "true"}.items():
            if lambda_critical["labels"].get(key) != value:
                failures.append(f"Alertmanager: the Lambda alert has {key}={lambda_critical['labels'].get(key)!r}")
        description = lambda_critical["annotations"].get("description", "")
        if description != f"Concurrent executions in account Management ({MANAGEMENT}), us-east-1, is at 95% of its limit (lambda L-B99A9384).":
            failures.append(f"Alertmanager: unexpected description {description!r}")
        description = alert_of("AwsQuotaUtilizationHigh", "warning", {**P, **LAMBDA})["annotations"].get("description", "")
        if not description.startswith(f"Concurrent executions in account Payments ({PAYMENTS}), us-east-1, is at 8"):
            failures.append(f"Alertmanager: unexpected description of Payments' Lambda alert {description!r}")
        hot = alert_of("AwsQuotaHotInSeveralAccounts", "warning", LAMBDA)
        description = hot["annotations"].get("description", "")
        want = (f"Concurrent executions (lambda L-B99A9384) is at or above the warning tier in 2 accounts in us-east-1: "
                f"Management ({MANAGEMENT}) at 95%, Payments ({PAYMENTS}) at 8")
        if not description.startswith(want) or "cloud_account_id" in hot["labels"]:
            failures.append(f"Alertmanager: the cross-account alert is {hot['labels']} {description!r}")
        description = alert_of("AwsQuotaExporterAccountDown", "warning", {"cloud_account_id": SANDBOX, "account_name": "Sandbox"})["annotations"].get("description", "")
        if f"account Sandbox ({SANDBOX})" not in description:
            failures.append(f"Alertmanager: unexpected description of Sandbox's alert {description!r}")
        print(f"{len(found)} alerts checked in Alertmanager")

        # 3. Tuning. One notification per quota and tier: Prometheus has sent every
        # alert many times by now, and each group is notified once.
        quota_tiers = [(n, sev, l) for n, sev, l, suppressed in EXPECTED
                       if n == "AwsQuotaUtilizationHigh" and not suppressed]

        def notified():
            sent = [(a["labels"], n) for n in sink.notifications for a in n["alerts"]]
            missing = [e for e in quota_tiers if not any(matches(labels, *e) for labels, _ in sent)]
            return not missing, f"not notified yet: {missing}"

        wait_for("a notification of every quota tier", notified, timeout=120)
        time.sleep(15)
        identity = ("alertname", "severity", "cloud_account_id", "cloud_region", "service_code", "quota_code", "resource")
        counts = {}
        for n in sink.notifications:
            tiers = [a for a in n["alerts"] if a["labels"].get("alertname") == "AwsQuotaUtilizationHigh"]
            if len(tiers) > 1:
                failures.append(f"Alertmanager: one notification carries {len(tiers)} quota tiers")
            for a in tiers:
                key = tuple(a["labels"].get(k, "") for k in identity)
                counts[key] = counts.get(key, 0) + 1
        twice = {k: v for k, v in counts.items() if v != 1}
        if twice:
            failures.append(f"Alertmanager: notified more than once: {twice}")
        for name, severity, labels, suppressed in EXPECTED:
            if suppressed and any(matches(a["labels"], name, severity, labels) for n in sink.notifications for a in n["alerts"]):
                failures.append(f"Alertmanager: notified an inhibited alert {name} {severity} {labels}")
        print(f"{len(counts)} quota tiers notified once each")

        # The override's and the mute's series, as the rules join them.
        def value(query):
            result = stack.prometheus("/api/v1/query", query=query)["data"]["result"]
            return float(result[0]["value"][1]) if result else None

        crit = value(f'aws_quota_alert_threshold{{cloud_account_id="{PAYMENTS}",quota_code="L-1216C47A",tier="critical"}}')
        if crit != 0.75:
            failures.append(f"the override's critical threshold is {crit}")
        if value(f'aws_quota_alert_muted_until_timestamp_seconds{{cloud_account_id="{MANAGEMENT}",quota_code="L-1216C47A",reason="capacity reservation in progress"}}') is None:
            failures.append("the mute is not published")

        # Hysteresis through a reload: Management's G and VT in us-east-1 (75 %) fires at
        # the default 70 %; at 78 % it keeps firing (75 is above 78 - 5); at 81 % it resolves.
        g = {**M, "cloud_region": "us-east-1", "service_code": "ec2", "quota_code": "L-DB2E81BA"}
        g_threshold = f'aws_quota_alert_threshold{{cloud_account_id="{MANAGEMENT}",cloud_region="us-east-1",quota_code="L-DB2E81BA",tier="info"}}'

        def g_firing():
            alerts = stack.prometheus("/api/v1/alerts")["data"]["alerts"]
            return any(a["state"] == "firing" and matches(a["labels"], "AwsQuotaUtilizationHigh", "info", g) for a in alerts)

        write_atomically(overrides_file, overrides(g_info=78))
        wait_for("the threshold of 78 % in Prometheus", lambda: (value(g_threshold) == 0.78, value(g_threshold)), timeout=60)
        time.sleep(20)  # four evaluations with the new threshold
        if not g_firing():
            failures.append("hysteresis: G and VT at 75 % stopped firing at a threshold of 78 %")
        write_atomically(overrides_file, overrides(g_info=81))
        wait_for("the threshold of 81 % in Prometheus", lambda: (value(g_threshold) == 0.81, value(g_threshold)), timeout=60)
        wait_for("G and VT at 75 % to resolve below 81 - 5 %", lambda: (not g_firing(), "still firing"), timeout=60)
        # The entry that selects nothing: its count is 0, and the log names its line.
        nothing_line = [i + 1 for i, l in enumerate(overrides(g_info=81).splitlines()) if l.startswith("- ")][2]
        count = value(f'aws_quota_exporter_alert_override_quotas{{line="{nothing_line}"}}')
        if count != 0:
            failures.append(f"the entry on line {nothing_line} selects {count} quotas, expected 0")

        def logged():
            with open(os.path.join(stack.tmp, "exporter.log")) as f:
                log = f.read()
            return "selects no quota" in log and f"line={nothing_line}" in log, "not logged yet"

        wait_for("the exporter to log the entry that selects nothing", logged, timeout=90)
        print("override, mute, reload, hysteresis and an entry that selects nothing checked")

        # 4. The organization, as the exporter publishes it.
        def series(query):
            result = stack.prometheus("/api/v1/query", query=query)
            return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in result["data"]["result"]}

        up = {dict(k)["cloud_account_id"]: v for k, v in series("aws_quota_exporter_account_up").items()}
        if up != {MANAGEMENT: 1.0, PAYMENTS: 1.0, SANDBOX: 0.0}:
            failures.append(f"aws_quota_exporter_account_up is {up}")
        info = {dict(k)["cloud_account_id"]: (dict(k).get("account_name"), dict(k).get("organizational_unit", ""))
                for k in series("aws_account_info")}
        want = {MANAGEMENT: ("Management", "Root"), PAYMENTS: ("Payments", "Workloads"), SANDBOX: ("Sandbox", "Sandbox")}
        if info != want:
            failures.append(f"aws_account_info is {info}, expected {want}")
        for query, what in [
            (f'count({{cloud_account_id="{SUSPENDED}"}})', "a series of the suspended account"),
            (f'aws_quota_info{{cloud_account_id="{SANDBOX}"}}', "a quota of Sandbox"),
        ]:
            if series(query):
                failures.append(f"Prometheus has {what}: {query}")
        discovery = series('aws_quota_exporter_refresh_success{source="organizations"}')
        if [dict(k).get("cloud_account_id") for k in discovery] != [MANAGEMENT] or list(discovery.values()) != [1.0]:
            failures.append(f"account discovery: {discovery}")
    except BaseException:
        stack.logs()
        raise
    finally:
        stack.down()
    if failures:
        stack.logs()
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print("stack test passed")


if __name__ == "__main__":
    main()
