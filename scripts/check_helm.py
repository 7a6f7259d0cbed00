"""`make helm`: the Helm chart in deploy/helm/aws-quota-exporter, without a cluster.

* `helm lint --strict` with the default values and each file of the chart's ci/.
* `helm template` of each case (the defaults; one replica with everything on; three
  shards with everything on), for each Kubernetes version in KUBERNETES_VERSIONS; every
  core object is validated offline by kubernetes-validate against that version's schema,
  strictly (an unknown field is an error).
* What a schema cannot see: the workload's kind and shape for its shard count,
  QUOTA_EXPORTER_SHARD=$(POD_NAME)/N after POD_NAME, every QUOTA_EXPORTER_* name the chart
  sets or its values and docs mention is one the exporter knows (src/config/mod.rs), the
  pod's hardening, probes, the ledger volume only with the receiver, selectors that
  match the pods, the IRSA annotation.
* The Prometheus Operator kinds, structurally: the ServiceMonitor selects the Service
  (not the headless one) on its named port and sets the job the rules expect; the
  PrometheusRule's groups equal those of alerts/aws-quota-exporter.rules.yml and pass
  `promtool check rules`; one dashboard ConfigMap per grafana/dashboards/*.json with the
  file's exact content.
* Values the chart must refuse are refused, with a message naming the value.
* NOTES.txt renders; `helm package` follows the chart's links to alerts/ and grafana/,
  and the package renders the same rules.

Usage: check_helm.py HELM PROMTOOL. Exits 1 with every problem listed.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

import kubernetes_validate
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(ROOT, "deploy", "helm", "aws-quota-exporter")
RULES = os.path.join(ROOT, "alerts", "aws-quota-exporter.rules.yml")
DASHBOARDS = os.path.join(ROOT, "grafana", "dashboards")
# The chart's kubeVersion floor (Chart.yaml) and the newest release kubernetes-validate
# (scripts/requirements.txt) carries schemas for.
KUBERNETES_VERSIONS = ("1.25.0", "1.37.0")
NAMESPACE = "monitoring"
RELEASE = "quotas"
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}

# name, extra helm arguments, and what the values file turns on.
CASES = [
    ("defaults", [], {"shards": 1, "receiver": False, "persistence": False, "extras": False, "role": ""}),
    (
        "one replica",
        ["-f", os.path.join(CHART, "ci", "one-replica-values.yaml")],
        {"shards": 1, "receiver": True, "persistence": True, "extras": True,
         "role": "arn:aws:iam::123456789012:role/aws-quota-exporter"},
    ),
    (
        "three shards",
        ["-f", os.path.join(CHART, "ci", "three-shards-values.yaml")],
        {"shards": 3, "receiver": True, "persistence": True, "extras": True,
         "role": "arn:aws:iam::123456789012:role/aws-quota-exporter"},
    ),
]

# Values the chart refuses, and a piece of the message that says why.
REFUSED = [
    (["--set", "shards=0"], "shards: Must be greater than or equal to 1"),
    (["--set", "config.QUOTA_EXPORTR_REGIONS=us-east-1"], "Does not match pattern"),
    (["--set", "shards=3", "--set", "config.QUOTA_EXPORTER_SHARD=0/3"], "config.QUOTA_EXPORTER_SHARD is set by the chart"),
    (["--set", "config.QUOTA_EXPORTER_LISTEN_ADDRESS=0.0.0.0:8080"], "expected an address on port 9767"),
    (["--set", "config.QUOTA_EXPORTER_INCREASE_RECEIVER=true"], "config.QUOTA_EXPORTER_INCREASE_RECEIVER is set by the chart"),
    (["--set", "receiver.enabled=true"], "receiver.enabled=true needs the credentials Alertmanager sends"),
    (["--set", "serviceMonitor.enable=true"], "Additional property enable is not allowed"),
    (["--set", "config.QUOTA_EXPORTER_EXCLUDE_ACCOUNTS=111122223333"], "EXCLUDE_ACCOUNTS: Invalid type. Expected: string"),
    (["--set", "serviceAccount.roleArn=aws-quota-exporter"], "serviceAccount.roleArn: Does not match pattern"),
    (
        ["--set", "shards=2", "--set", "receiver.enabled=true", "--set", "receiver.tokenSecret.name=t",
         "--set", "receiver.persistence.enabled=true", "--set", "receiver.persistence.existingClaim=c"],
        "existingClaim is for one shard",
    ),
]

problems = []


def problem(text):
    problems.append(text)


def helm(helm_bin, *args, expect_failure=False):
    """Runs helm; returns (exit code, stdout, stderr without the symlink notices)."""
    run = subprocess.run([helm_bin, *args], capture_output=True, text=True)
    # helm notes every link it follows ("found symbolic link in path"): expected here.
    stderr = "\n".join(line for line in run.stderr.splitlines() if "found symbolic link in path" not in line)
    if run.returncode != 0 and not expect_failure:
        problem(f"helm {' '.join(args)} failed: {stderr.strip() or run.stdout.strip()}")
    return run.returncode, run.stdout, stderr


def known_variables():
    """The QUOTA_EXPORTER_* names of `VARIABLES` in src/config/mod.rs (what --help lists)."""
    with open(os.path.join(ROOT, "src", "config", "mod.rs")) as f:
        source = f.read()
    start = source.index("pub const VARIABLES: &[Variable] = &[")
    block = source[start : source.index("\n];", start)]
    return set(re.findall(r'name: "(QUOTA_EXPORTER_[A-Z0-9_]+)"', block))


def check_mentioned_variables(known):
    """Every QUOTA_EXPORTER_* name in the chart's values, its ci/ files and the docs."""
    files = [os.path.join(CHART, "values.yaml"), *glob.glob(os.path.join(CHART, "ci", "*.yaml"))]
    files += [os.path.join(ROOT, "docs", "multi-account.md")]
    for path in files:
        if not os.path.exists(path):
            problem(f"{os.path.relpath(path, ROOT)} is missing")
            continue
        with open(path) as f:
            text = f.read()
        # A trailing `_` or `*` is a family of names (QUOTA_EXPORTER_INCREASE_*), not one.
        for name in set(re.findall(r"QUOTA_EXPORTER_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*])", text)):
            if name not in known:
                problem(f"{os.path.relpath(path, ROOT)} names {name}, which src/config/mod.rs does not define")


def by_kind(docs):
    out = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def matches(selector_labels, labels):
    return all(labels.get(k) == v for k, v in selector_labels.items())


def check_core_schemas(case, version, docs):
    for d in docs:
        if d["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(d, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            problem(f"{case} (Kubernetes {version}): {d['kind']}/{d['metadata']['name']}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            problem(f"{case} (Kubernetes {version}): {e.message}")


def check_workload(case, expect, kinds, known):
    shards = expect["shards"]
    workload_kind = "Deployment" if shards == 1 else "StatefulSet"
    other = "StatefulSet" if shards == 1 else "Deployment"
    if other in kinds or len(kinds.get(workload_kind, [])) != 1:
        problem(f"{case}: expected exactly one {workload_kind} and no {other}")
        return None
    w = kinds[workload_kind][0]
    spec = w["spec"]
    if spec["replicas"] != shards:
        problem(f"{case}: {workload_kind} has {spec['replicas']} replicas, expected {shards}")
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    if not matches(spec["selector"]["matchLabels"], pod_labels):
        problem(f"{case}: the {workload_kind}'s selector does not match its pods")
    headless = [s for s in kinds.get("Service", []) if s["spec"].get("clusterIP") == "None"]
    if shards > 1:
        if spec.get("podManagementPolicy") != "Parallel":
            problem(f"{case}: the StatefulSet's podManagementPolicy is not Parallel")
        if len(headless) != 1 or spec.get("serviceName") != headless[0]["metadata"]["name"]:
            problem(f"{case}: the StatefulSet's serviceName does not name its one headless Service")
    elif headless:
        problem(f"{case}: a headless Service with one shard")

    (container,) = pod["containers"]
    env = container.get("env", [])
    names = [e["name"] for e in env]
    if len(names) != len(set(names)):
        problem(f"{case}: an environment variable is set twice: {names}")
    for e in env:
        if e["name"].startswith("QUOTA_EXPORTER_") and e["name"] not in known:
            problem(f"{case}: the pod sets {e['name']}, which src/config/mod.rs does not define (the exporter would refuse to start)")
        if re.fullmatch(r"[0-9.]+e[+-]?[0-9]+", e.get("value", "")):
            problem(f"{case}: {e['name']}={e['value']}: a number rendered in exponent form")
    shard = next((e for e in env if e["name"] == "QUOTA_EXPORTER_SHARD"), None)
    if shards == 1:
        if shard is not None:
            problem(f"{case}: QUOTA_EXPORTER_SHARD is set with one shard")
    else:
        pod_name = next((i for i, e in enumerate(env) if e["name"] == "POD_NAME"), None)
        if shard is None or shard.get("value") != f"$(POD_NAME)/{shards}":
            problem(f"{case}: QUOTA_EXPORTER_SHARD is {shard}, expected $(POD_NAME)/{shards}")
        elif pod_name is None or pod_name > names.index("QUOTA_EXPORTER_SHARD"):
            problem(f"{case}: POD_NAME is not defined before QUOTA_EXPORTER_SHARD, so $(POD_NAME) would not expand")
        elif env[pod_name].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
            problem(f"{case}: POD_NAME does not come from the downward API's metadata.name")

    psc, csc = pod.get("securityContext", {}), container.get("securityContext", {})
    wanted = [
        (psc.get("runAsNonRoot"), True, "pod runAsNonRoot"),
        (psc.get("runAsUser"), 65534, "pod runAsUser"),
        (psc.get("seccompProfile", {}).get("type"), "RuntimeDefault", "pod seccompProfile"),
        (csc.get("readOnlyRootFilesystem"), True, "readOnlyRootFilesystem"),
        (csc.get("allowPrivilegeEscalation"), False, "allowPrivilegeEscalation"),
        (csc.get("capabilities", {}).get("drop"), ["ALL"], "capabilities.drop"),
        (csc.get("runAsUser"), 65534, "container runAsUser"),
        (pod.get("automountServiceAccountToken"), False, "automountServiceAccountToken"),
    ]
    for got, want, what in wanted:
        if got != want:
            problem(f"{case}: {what} is {got!r}, expected {want!r}")
    if container["ports"] != [{"name": "http-metrics", "containerPort": 9767, "protocol": "TCP"}]:
        problem(f"{case}: the container's port is {container['ports']}, expected 9767 named http-metrics")
    for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
        got = container.get(probe, {}).get("httpGet", {})
        if got.get("path") != path or got.get("port") != "http-metrics":
            problem(f"{case}: {probe} is {got}, expected GET {path} on http-metrics")
    if "memory" not in container.get("resources", {}).get("limits", {}):
        problem(f"{case}: no memory limit")

    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    ledger = mounts.get("/var/lib/aws-quota-exporter")
    if expect["receiver"] != (ledger is not None):
        problem(f"{case}: the ledger volume is {'missing' if expect['receiver'] else 'mounted without the receiver'}")
    if ledger:
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        claims = [c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])]
        if expect["persistence"] and shards > 1 and ledger not in claims:
            problem(f"{case}: the ledger is not a volumeClaimTemplate of the StatefulSet")
        if expect["persistence"] and shards == 1 and "persistentVolumeClaim" not in volumes.get(ledger, {}):
            problem(f"{case}: the ledger is not on a PersistentVolumeClaim")
        if expect["persistence"] and shards == 1 and spec.get("strategy", {}).get("type") != "Recreate":
            problem(f"{case}: a Deployment with a SQLite ledger must stop the old pod first (strategy Recreate)")
        if "QUOTA_EXPORTER_INCREASE_LEDGER_PATH" not in names:
            problem(f"{case}: the ledger is mounted but QUOTA_EXPORTER_INCREASE_LEDGER_PATH does not point into it")

    accounts = kinds.get("ServiceAccount", [])
    if len(accounts) != 1 or pod.get("serviceAccountName") != accounts[0]["metadata"]["name"]:
        problem(f"{case}: the pods do not run as the chart's ServiceAccount")
    else:
        got = accounts[0]["metadata"].get("annotations", {}).get("eks.amazonaws.com/role-arn", "")
        if got != expect["role"]:
            problem(f"{case}: the ServiceAccount's eks.amazonaws.com/role-arn is {got!r}, expected {expect['role']!r}")

    for pdb in kinds.get("PodDisruptionBudget", []):
        if not matches(pdb["spec"]["selector"]["matchLabels"], pod_labels):
            problem(f"{case}: the PodDisruptionBudget does not select the pods")
    if not kinds.get("PodDisruptionBudget"):
        problem(f"{case}: no PodDisruptionBudget")
    return pod_labels


def check_services(case, kinds, pod_labels):
    main = [s for s in kinds.get("Service", []) if s["spec"].get("clusterIP") != "None"]
    if len(main) != 1:
        problem(f"{case}: expected one (non-headless) Service, found {len(main)}")
        return None
    (svc,) = main
    if not matches(svc["spec"]["selector"], pod_labels):
        problem(f"{case}: the Service does not select the pods")
    port = svc["spec"]["ports"]
    if port != [{"name": "http-metrics", "port": 9767, "targetPort": "http-metrics", "protocol": "TCP"}]:
        problem(f"{case}: the Service's ports are {port}, expected 9767 named http-metrics")
    return svc


def rules_job():
    """The job the shipped rules expect (AwsQuotaExporterDown's `up{job="..."}`)."""
    with open(RULES) as f:
        found = set(re.findall(r'\bup\{job="([^"]+)"\}', f.read()))
    if len(found) != 1:
        problem(f"alerts/aws-quota-exporter.rules.yml names the job {found or 'nowhere'}; expected one job")
    return next(iter(found), None)


def check_service_monitor(case, kinds, svc):
    (sm,) = kinds["ServiceMonitor"]
    if sm["apiVersion"] != "monitoring.coreos.com/v1":
        problem(f"{case}: ServiceMonitor apiVersion {sm['apiVersion']}")
    selector = sm["spec"]["selector"]

    def selected(s):
        labels = s["metadata"].get("labels", {})
        if not matches(selector.get("matchLabels", {}), labels):
            return False
        for e in selector.get("matchExpressions", []):
            present = e["key"] in labels
            if (e["operator"] == "DoesNotExist" and present) or (e["operator"] == "Exists" and not present):
                return False
            if e["operator"] not in ("Exists", "DoesNotExist"):
                problem(f"{case}: ServiceMonitor operator {e['operator']} not checked here")
        return True

    chosen = [s["metadata"]["name"] for s in kinds.get("Service", []) if selected(s)]
    if svc is None or chosen != [svc["metadata"]["name"]]:
        problem(f"{case}: the ServiceMonitor selects Services {chosen}, expected only the main Service")
    if sm["spec"].get("namespaceSelector", {}).get("matchNames") != [NAMESPACE]:
        problem(f"{case}: the ServiceMonitor does not look in the release's namespace")
    endpoints = sm["spec"]["endpoints"]
    if [e.get("port") for e in endpoints] != ["http-metrics"] or endpoints[0].get("path") != "/metrics":
        problem(f"{case}: the ServiceMonitor's endpoints are {endpoints}, expected /metrics on http-metrics")
    job = [r.get("replacement") for r in endpoints[0].get("relabelings", []) if r.get("targetLabel") == "job"]
    if job != [rules_job()]:
        problem(f"{case}: the ServiceMonitor sets job to {job}, the rules expect {rules_job()!r}")


def check_prometheus_rule(case, kinds, promtool, tmp):
    (rule,) = kinds["PrometheusRule"]
    if rule["apiVersion"] != "monitoring.coreos.com/v1":
        problem(f"{case}: PrometheusRule apiVersion {rule['apiVersion']}")
    with open(RULES) as f:
        shipped = yaml.safe_load(f)["groups"]
    groups = rule["spec"]["groups"]
    if groups != shipped:
        problem(f"{case}: the PrometheusRule's groups differ from alerts/aws-quota-exporter.rules.yml")
    extracted = os.path.join(tmp, f"{case.replace(' ', '-')}.rules.yml")
    with open(extracted, "w") as f:
        yaml.safe_dump({"groups": groups}, f, sort_keys=False)
    run = subprocess.run([promtool, "check", "rules", extracted], capture_output=True, text=True)
    if run.returncode != 0:
        problem(f"{case}: promtool check rules on the PrometheusRule's groups: {run.stdout}{run.stderr}")


def check_dashboards(case, kinds):
    shipped = {}
    for path in sorted(glob.glob(os.path.join(DASHBOARDS, "*.json"))):
        with open(path) as f:
            shipped[os.path.basename(path)] = f.read()
    maps = {}
    for cm in kinds.get("ConfigMap", []):
        if cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            for key, value in cm["data"].items():
                maps[key] = value
                json.loads(value)
    if set(maps) != set(shipped):
        problem(f"{case}: dashboard ConfigMaps hold {sorted(maps)}, grafana/dashboards has {sorted(shipped)}")
    for name, text in shipped.items():
        if name in maps and maps[name] != text:
            problem(f"{case}: the ConfigMap's {name} differs from grafana/dashboards/{name}")


def check_alert_overrides(case, args, kinds):
    """With alertOverrides, the entries reach the pod as the file the exporter reads:
    a ConfigMap, mounted as a directory (so that updates arrive), named by
    QUOTA_EXPORTER_ALERT_OVERRIDES; without, none of it."""
    values = {}
    for i, a in enumerate(args):
        if a == "-f":
            with open(args[i + 1]) as f:
                values.update(yaml.safe_load(f) or {})
    wanted = values.get("alertOverrides") or []
    maps = [c for c in kinds.get("ConfigMap", []) if c["metadata"]["name"].endswith("-alert-overrides")]
    pod = next(iter(kinds.get("Deployment", []) + kinds.get("StatefulSet", [])))["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    if not wanted:
        if maps or "QUOTA_EXPORTER_ALERT_OVERRIDES" in env:
            problem(f"{case}: alert overrides rendered though none are set")
        return
    if len(maps) != 1:
        problem(f"{case}: expected one alert overrides ConfigMap, found {len(maps)}")
        return
    rendered = yaml.safe_load(maps[0]["data"]["overrides.yaml"])
    if rendered != {"overrides": wanted}:
        problem(f"{case}: the overrides file is {rendered}, the values say {wanted}")
    path = env.get("QUOTA_EXPORTER_ALERT_OVERRIDES", "")
    volume = next((v for v in pod.get("volumes", []) if v.get("configMap", {}).get("name") == maps[0]["metadata"]["name"]), None)
    mount = next((m for m in container.get("volumeMounts", []) if volume and m["name"] == volume["name"]), None)
    if not mount or "subPath" in mount or path != mount["mountPath"] + "/overrides.yaml":
        problem(f"{case}: QUOTA_EXPORTER_ALERT_OVERRIDES={path!r} is not the mounted ConfigMap's file ({mount})")


def check_case(helm_bin, promtool, tmp, known, case, args, expect):
    for version in KUBERNETES_VERSIONS:
        code, out, _ = helm(
            helm_bin, "template", RELEASE, CHART, "--namespace", NAMESPACE, "--kube-version", version, *args
        )
        if code != 0:
            return
        docs = [d for d in yaml.safe_load_all(out) if d]
        check_core_schemas(case, version, docs)
    kinds = by_kind(docs)
    extras = expect["extras"]
    for kind in CRD_KINDS:
        if bool(kinds.get(kind)) != extras:
            problem(f"{case}: {kind} {'missing' if extras else 'rendered though not enabled'}")
    pod_labels = check_workload(case, expect, kinds, known)
    if pod_labels is None:
        return
    svc = check_services(case, kinds, pod_labels)
    check_alert_overrides(case, args, kinds)
    if extras:
        check_service_monitor(case, kinds, svc)
        check_prometheus_rule(case, kinds, promtool, tmp)
        check_dashboards(case, kinds)
    if bool(kinds.get("PersistentVolumeClaim")) != (expect["persistence"] and expect["shards"] == 1):
        problem(f"{case}: a PersistentVolumeClaim is {'missing' if expect['persistence'] else 'rendered'}")
    print(f"{case}: {len(docs)} objects ({', '.join(sorted(kinds))}) checked")


def check_refused(helm_bin):
    for args, message in REFUSED:
        code, out, err = helm(helm_bin, "template", RELEASE, CHART, *args, expect_failure=True)
        if code == 0:
            problem(f"helm template {' '.join(args)} was accepted; expected it refused with {message!r}")
        elif message not in err:
            problem(f"helm template {' '.join(args)} was refused, but not with {message!r}: {err.strip()}")
    print(f"{len(REFUSED)} invalid values refused")


def check_notes(helm_bin, tmp):
    """NOTES.txt renders (`helm template` leaves it out, so it is rendered as a file)."""
    copy = os.path.join(tmp, "notes", "aws-quota-exporter")
    shutil.copytree(CHART, copy, symlinks=False)
    os.rename(os.path.join(copy, "templates", "NOTES.txt"), os.path.join(copy, "files", "NOTES.txt"))
    with open(os.path.join(copy, "templates", "zz-notes.yaml"), "w") as f:
        f.write('notes: {{ tpl (.Files.Get "files/NOTES.txt") . | toJson }}\n')
    for case, args, _ in CASES:
        code, out, _ = helm(helm_bin, "template", RELEASE, copy, *args, "--show-only", "templates/zz-notes.yaml")
        if code == 0 and RELEASE not in yaml.safe_load(out)["notes"]:
            problem(f"{case}: NOTES.txt rendered without the release's name")
    print("NOTES.txt renders")


def check_package(helm_bin, promtool, tmp):
    out_dir = os.path.join(tmp, "package")
    code, out, _ = helm(helm_bin, "package", CHART, "--destination", out_dir)
    if code != 0:
        return
    (package,) = glob.glob(os.path.join(out_dir, "*.tgz"))
    with tarfile.open(package) as tar:
        members = {m.name: m for m in tar.getmembers()}
        rules = members.get("aws-quota-exporter/files/aws-quota-exporter.rules.yml")
        with open(RULES, "rb") as f:
            if rules is None or not rules.isfile() or tar.extractfile(rules).read() != f.read():
                problem("the package does not hold alerts/aws-quota-exporter.rules.yml as a file")
        for path in glob.glob(os.path.join(DASHBOARDS, "*.json")):
            entry = members.get(f"aws-quota-exporter/files/dashboards/{os.path.basename(path)}")
            with open(path, "rb") as f:
                if entry is None or not entry.isfile() or tar.extractfile(entry).read() != f.read():
                    problem(f"the package does not hold grafana/dashboards/{os.path.basename(path)} as a file")
        if any(name.startswith("aws-quota-exporter/ci/") for name in members):
            problem("the package holds the ci/ values files")
    case, args, expect = CASES[2]
    code, out, _ = helm(helm_bin, "template", RELEASE, package, "--namespace", NAMESPACE, *args)
    if code == 0:
        kinds = by_kind([d for d in yaml.safe_load_all(out) if d])
        check_prometheus_rule("packaged chart", kinds, promtool, tmp)
        check_dashboards("packaged chart", kinds)
    print(f"{os.path.basename(package)}: holds the rules and dashboards, and renders them")


def main():
    helm_bin, promtool = sys.argv[1], sys.argv[2]
    known = known_variables()
    with tempfile.TemporaryDirectory() as tmp:
        # helm's own cache and configuration stay out of the home directory.
        for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
            os.environ[var] = os.path.join(tmp, var.lower())
        for _, args, _ in CASES:
            helm(helm_bin, "lint", "--strict", CHART, *args)
        print("helm lint --strict: clean")
        check_mentioned_variables(known)
        for case, args, expect in CASES:
            check_case(helm_bin, promtool, tmp, known, case, args, expect)
        check_refused(helm_bin)
        check_notes(helm_bin, tmp)
        check_package(helm_bin, promtool, tmp)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
