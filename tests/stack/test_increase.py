"""End to end, automatic increase requests: the demo exporter with its receiver on
(filing, not dry-run), Prometheus with the shipped rules and the switch turned on,
Alertmanager with the shipped configuration, all on 127.0.0.1.

A demo quota in the critical tier goes Prometheus -> Alertmanager -> receiver ->
exactly one request in the simulated AWS; Alertmanager re-sending (every 5 seconds
here) files nothing more; the simulated AWS approves after 30 seconds, the receiver
reads the new limit, and the alert resolves. The demo's VPC request (from the forecast
alert) asks for twice its limit, which the simulated AWS denies: the ledger closes it
DENIED and AwsQuotaIncreaseRequestDenied fires and reaches Alertmanager.

Only what makes it fast differs from what ships: `for:` is 10 seconds, and the
receiver's route waits and repeats in seconds, not minutes and hours.

Requests are counted per account, region, service and quota: the demo organization's
member Payments has the same quotas at 0.9 times the management account's usage.

Usage: test_increase.py <exporter binary>
"""
import collections
import json
import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_stack import Stack, get_json, wait_for  # noqa: E402

SWITCH_OFF = 'label_replace(vector(1), "auto_increase", "false", "", "")'
SWITCH_ON = 'label_replace(vector(1), "auto_increase", "true", "", "")'
# The demo's management account: the Lambda quota is critical only there (Payments'
# is at about 85 %), and requests are one per quota per account.
ACCOUNT = "111122223333"
LAMBDA = (ACCOUNT, "us-east-1", "lambda", "L-B99A9384")
VPC = (ACCOUNT, "us-east-1", "vpc", "L-F678F1CE")


def aws_key(r):
    """A request in the simulated AWS: account, region, service, quota."""
    return (r["AccountId"], r["Region"], r["ServiceCode"], r["QuotaCode"])


def ledger_key(e):
    """A ledger entry: account, region, service, quota."""
    return (e["cloud_account_id"], e["cloud_region"], e["service_code"], e["quota_code"])


def switch_on(rules):
    assert SWITCH_OFF in rules, "the switch is in the shipped rules"
    return rules.replace(SWITCH_OFF, SWITCH_ON)


def fast_route(config):
    route = next(r for r in config["route"]["routes"] if r["receiver"] == "quota-increase")
    route.update({"group_wait": "1s", "group_interval": "5s", "repeat_interval": "5s"})


def token(stack):
    with open(stack.token_file) as f:
        return f.read().strip()


def ledger(stack):
    req = urllib.request.Request(f"http://127.0.0.1:{stack.exporter_port}/increase-requests?limit=10000",
                                 headers={"Authorization": f"Bearer {token(stack)}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["entries"]


def simulator_endpoint(stack):
    """The demo's simulated AWS, from the exporter's first log line."""
    with open(os.path.join(stack.tmp, "exporter.log")) as f:
        m = re.search(r"endpoint=(http://127\.0\.0\.1:\d+)", f.read())
    return (m is not None, m and m.group(1))


def aws_requests(endpoint):
    return get_json(f"{endpoint}/_simaws/increase-requests")


def main(binary):
    stack = Stack(
        binary,
        exporter_env={
            "QUOTA_EXPORTER_LOG_LEVEL": "info",
            "QUOTA_EXPORTER_INCREASE_RECEIVER": "true",
            "QUOTA_EXPORTER_INCREASE_DRY_RUN": "false",
            "QUOTA_EXPORTER_INCREASE_POLL_INTERVAL": "2s",
        },
        edit_rules=switch_on,
        edit_alertmanager=fast_route,
    )
    stack.exporter_env["QUOTA_EXPORTER_INCREASE_LEDGER_PATH"] = os.path.join(stack.tmp, "ledger.db")
    stack.exporter_env["QUOTA_EXPORTER_INCREASE_TOKEN_FILE"] = stack.token_file
    failures = []
    try:
        stack.up()
        endpoint = wait_for("the simulator's address in the log", lambda: simulator_endpoint(stack))

        def filed():
            requests = aws_requests(endpoint)
            ours = [r for r in requests if aws_key(r) == LAMBDA]
            return bool(ours), requests

        requests = wait_for("the Lambda quota's request in the simulated AWS", filed, timeout=180)
        first = time.time()
        print(f"filed {len(requests)} request(s): "
              + ", ".join(f'{r["ServiceCode"]}/{r["QuotaCode"]} {r["DesiredValue"]:g}' for r in requests))

        # Alertmanager re-sends every 5 seconds: nothing more is filed for any quota.
        def resent():
            skipped = [e for e in ledger(stack)
                       if e["state"] == "skipped" and e["reason"] in ("open_request", "cooldown")
                       and ledger_key(e) == LAMBDA]
            return len(skipped) >= 2, f"{len(skipped)} re-sends recorded"

        wait_for("Alertmanager to re-send the notification", resent, timeout=60)
        requests = aws_requests(endpoint)
        per_quota = collections.Counter(aws_key(r) for r in requests)
        for quota, n in per_quota.items():
            if n != 1:
                failures.append(f"{n} requests for {quota}, expected exactly one")
        entries = ledger(stack)
        recorded = {e["request_id"] for e in entries if e.get("request_id")}
        for r in requests:
            if r["Id"] not in recorded:
                failures.append(f"request {r['Id']} in AWS is not in the ledger")

        # The simulated AWS approves after 30 seconds; the alert then resolves.
        lambda_request = next(r for r in requests if aws_key(r) == LAMBDA)

        def limit_raised():
            q = f'aws_quota_limit{{cloud_account_id="{ACCOUNT}",service_code="lambda",quota_code="L-B99A9384",cloud_region="us-east-1"}}'
            result = stack.prometheus("/api/v1/query", query=q)["data"]["result"]
            value = float(result[0]["value"][1]) if result else None
            return value == lambda_request["DesiredValue"], value

        wait_for("Prometheus to scrape the approved limit", limit_raised, timeout=120)

        def resolved():
            alerts = stack.prometheus("/api/v1/alerts")["data"]["alerts"]
            critical = [a for a in alerts if a["labels"].get("alertname") == "AwsQuotaUtilizationHigh"
                        and a["labels"].get("severity") == "critical"
                        and a["labels"].get("quota_code") == "L-B99A9384"
                        and a["labels"].get("cloud_account_id") == ACCOUNT]
            recorded_resolved = [e for e in ledger(stack) if e["state"] == "resolved"
                                 and ledger_key(e) == LAMBDA]
            return not critical and bool(recorded_resolved), f"firing: {len(critical)}, resolved recorded: {len(recorded_resolved)}"

        wait_for("the critical alert to resolve and Alertmanager to say so", resolved, timeout=120)
        # The VPC request is denied: closed in the ledger, and the denial alerts.
        vpc_request = next((r for r in requests if aws_key(r) == VPC), None)
        if vpc_request is None:
            failures.append("the demo's VPC forecast alert filed no request")
        else:
            def denied():
                entry = [e for e in ledger(stack) if e.get("request_id") == vpc_request["Id"]]
                firing = [a for a in get_json(f"http://127.0.0.1:{stack.am_port}/api/v2/alerts")
                          if a["labels"].get("alertname") == "AwsQuotaIncreaseRequestDenied"]
                done = bool(entry) and (entry[0]["state"], entry[0]["aws_status"]) == ("closed", "DENIED") and bool(firing)
                return done, f"entry: {entry and (entry[0]['state'], entry[0]['aws_status'])}, alert in Alertmanager: {bool(firing)}"

            wait_for("the VPC request's denial in the ledger and in Alertmanager", denied, timeout=120)
            print(f"VPC request for {vpc_request['DesiredValue']:g} denied and AwsQuotaIncreaseRequestDenied reached Alertmanager")

        failed = [a for a in stack.prometheus("/api/v1/alerts")["data"]["alerts"]
                  if a["labels"].get("alertname") == "AwsQuotaIncreaseRequestFailed"]
        if failed:
            failures.append(f"AwsQuotaIncreaseRequestFailed fired: {failed}")
        closed = [e for e in ledger(stack) if e.get("request_id") == lambda_request["Id"]]
        if not closed or (closed[0]["state"], closed[0]["aws_status"]) != ("closed", "APPROVED"):
            failures.append(f"the Lambda request's entry is {closed}")
        if len(aws_requests(endpoint)) != len(requests):
            failures.append("a request was filed after approval, within the cooldown")
        print(f"approved, limit {lambda_request['DesiredValue']:g} scraped and the alert resolved "
              f"{time.time() - first:.0f} s after filing; {len(ledger(stack))} ledger entries")
        if failures:
            print("\n".join(failures))
            stack.logs()
            sys.exit(1)
        print("increase test passed")
    except BaseException:
        stack.logs()
        raise
    finally:
        stack.down()


if __name__ == "__main__":
    main(sys.argv[1])
