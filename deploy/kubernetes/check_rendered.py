"""Proves the rendered Kubernetes examples in deploy/kubernetes/ match the Helm chart.

There is no helm binary on the machines this project is built on, so the examples are kept as
plain files and this check ties them to the chart from both sides:

* values: each example's values (chart defaults deep-merged with examples/values-MODE.yaml), and
  those of helm/canvas-sis/ci/*.yaml, must pass values.schema.json, and every field the chart takes from them must appear, with that
  value, in the rendered file: image and pull policy, arguments per mode, the environment (names,
  order and values; the notifications' webhook URL as a Secret reference, never a value;
  SIS_PARALLEL in cronjob and deployment modes only; no AWS variable in folder mode), ports and
  probes, resources, both security contexts, volumes (token Secret, config map, scratch dirs,
  folder mode's claim), the config's checksum, the service account's role, the NetworkPolicy's
  egress (no Pod Identity agent by "auto" in folder mode), the CronJob's schedule and Forbid
  policy, the PodDisruptionBudget, the KEDA trigger, folder mode's one replica, Recreate strategy
  and created claim (size, class, access modes, kept on uninstall).
* templates: every literal the rendered files rely on (each env name, probe path, mount path,
  `concurrencyPolicy: Forbid`, the value paths read) must still be written in the templates, so
  renaming one in a template without re-rendering fails here.

* renderer (with --rendered DIR): DIR/MODE.yaml, the chart rendered by deploy/kubernetes/render
  (Go text/template + Sprig, as helm does), must hold exactly the same objects as the committed
  files, field for field (comments and layout aside); and DIR/ci/NAME.yaml, the chart rendered
  with helm/canvas-sis/ci/NAME.yaml (not committed), must pass the same value checks as the
  examples, so the branches the examples leave off are checked field by field too.

Run: python deploy/kubernetes/check_rendered.py [--rendered DIR]  (exit 1 and one line per drift).
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "canvas-sis"
RENDERED = ROOT / "deploy" / "kubernetes"
MODES = ("cronjob", "deployment", "keda", "folder")
WORKLOAD_KIND = {"cronjob": "CronJob", "deployment": "Deployment", "keda": "ScaledJob", "folder": "Deployment"}
# The container's arguments per mode (folder mode's also name its folder.path).
ARGS = {"cronjob": ["run", "--until-empty"], "deployment": ["run"], "keda": ["run", "--until-empty"]}
# The long-running modes: restart Always, probes, a termination grace period, the listener.
LONG_RUNNING = ("deployment", "folder")
# What folder mode (watch: no queue, no S3 ledger, no AWS) must never be given.
AWS_ENV = {"SIS_QUEUE_URL", "SIS_STATE_URL", "SIS_BUCKET", "AWS_REGION"}
# The modes whose worker gets SIS_PARALLEL (values: parallel): not keda, where KEDA scales the
# Jobs and each takes one message at a time.
PARALLEL_MODES = ("cronjob", "deployment")
NAME = "canvas-sis"  # release canvas-sis: the chart's fullname
NAMESPACE = "canvas-sis"
# The tag an empty image.tag stands for: the chart's appVersion.
APP_VERSION = str(yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"])


# The labels every pod carries (the chart's standard labels and the component), for selecting
# the worker's pods in dashboards and policies.
POD_LABELS = {
    "helm.sh/chart": f"canvas-sis-{yaml.safe_load((CHART / 'Chart.yaml').read_text())['version']}",
    "app.kubernetes.io/name": NAME,
    "app.kubernetes.io/instance": NAME,
    "app.kubernetes.io/version": APP_VERSION,
    "app.kubernetes.io/managed-by": "Helm",
    "app.kubernetes.io/component": "worker",
}


def merge(base: dict, over: dict) -> dict:
    """Helm's values merge: maps merge key by key, everything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def listens(v: dict) -> bool:
    return v["mode"] in LONG_RUNNING or v["listen"]["enabled"]


def claim_name(v: dict, fullname: str) -> str:
    """Folder mode's claim: the existing one, or the one the chart creates."""
    return v["folder"]["persistence"]["existingClaim"] or f"{fullname}-data"


def env_pair(e: dict) -> tuple[str, object]:
    """An EnvVar as (name, value), or (name, valueFrom) for one taken from a Secret or field."""
    return (e["name"], e["valueFrom"]) if "valueFrom" in e else (e["name"], e.get("value", ""))


def expected_env(v: dict) -> list[tuple[str, object]]:
    """The environment the chart's canvas-sis.env helper renders for values `v`, in order."""
    cloud = v["mode"] != "folder"  # folder mode: no queue, no S3, no AWS, its work dir on the volume
    env = []
    if cloud:
        env += [("SIS_QUEUE_URL", v["sis"]["queueUrl"]), ("SIS_STATE_URL", v["sis"]["stateUrl"])]
        if v["sis"]["buckets"]:
            env.append(("SIS_BUCKET", ",".join(v["sis"]["buckets"])))
    if v["canvas"]["baseUrl"]:
        env.append(("CANVAS_BASE_URL", v["canvas"]["baseUrl"]))
    env.append(("CANVAS_ACCOUNT_ID", v["canvas"]["accountId"]))
    env.append(("CANVAS_TOKEN_FILE", f"/run/secrets/canvas/{v['token']['key']}"))
    if v["config"]["toml"]:
        env.append(("CANVAS_SIS_CONFIG", "/etc/canvas-sis/canvas-sis.toml"))
    if cloud:
        env.append(("SIS_WORK_DIR", "/work"))
    if v["mode"] in PARALLEL_MODES:
        env.append(("SIS_PARALLEL", str(v["parallel"])))
    env.append(("CANVAS_SIS_LOG_FORMAT", v["logFormat"]))
    if cloud and v["aws"]["region"]:
        env.append(("AWS_REGION", v["aws"]["region"]))
    if listens(v):
        env.append(("SIS_LISTEN_ADDR", f"0.0.0.0:{v['listen']['port']}"))
    if v["otel"]["endpoint"]:
        env.append(("OTEL_EXPORTER_OTLP_ENDPOINT", v["otel"]["endpoint"]))
        env.append(("OTEL_EXPORTER_OTLP_PROTOCOL", v["otel"]["protocol"]))
        env.append(("OTEL_SERVICE_NAME", v["otel"]["serviceName"]))
        if v["otel"]["resourceAttributes"]:
            env.append(("OTEL_RESOURCE_ATTRIBUTES", v["otel"]["resourceAttributes"]))
    n = v["notify"]
    if n["webhookUrl"]["existingSecret"]:
        # The webhook URL is a secret: a Secret reference, never a value.
        env.append((n["webhookUrl"]["env"], {"secretKeyRef": {"name": n["webhookUrl"]["existingSecret"],
                                                              "key": n["webhookUrl"]["key"]}}))
    if n["webhookFormat"]:
        env.append(("SIS_NOTIFY_WEBHOOK_FORMAT", n["webhookFormat"]))
    if n["snsTopicArn"]:
        env.append(("SIS_NOTIFY_SNS_TOPIC_ARN", n["snsTopicArn"]))
    if n["onSuccessWithWarnings"]:
        env.append(("SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS", "true"))
    env.extend(env_pair(e) for e in v["extraEnv"])
    return env


def check_notify(d: Drift, where: str, v: dict, env: list[dict]) -> None:
    """What the worker would refuse or ignore, and the webhook URL never as a plain value."""
    n, names = v["notify"], [e["name"] for e in env]
    for e in env:
        if "value" in e and e["name"] == n["webhookUrl"]["env"] and n["webhookUrl"]["existingSecret"]:
            d.lines.append(f"{where}: {e['name']} (the webhook URL) is a plain value")
        if "value" in e and e["name"] == "SIS_NOTIFY_WEBHOOK_URL":
            d.lines.append(f"{where}: SIS_NOTIFY_WEBHOOK_URL is a plain value")
    settings = {"SIS_NOTIFY_WEBHOOK_FORMAT", "SIS_NOTIFY_SNS_TOPIC_ARN", "SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS"}
    if v["config"]["toml"]:
        d.true(where, not settings & set(names), "SIS_NOTIFY_* settings beside a config file (the worker ignores them)")
    elif set(names) & {"SIS_NOTIFY_WEBHOOK_FORMAT", "SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS"}:
        d.true(where, bool(set(names) & {"SIS_NOTIFY_WEBHOOK_URL", "SIS_NOTIFY_SNS_TOPIC_ARN"}),
               "notification settings without a destination (the worker refuses them)")


class Drift:
    """Collects mismatches, one line each."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def eq(self, where: str, got, want) -> None:
        if got != want:
            self.lines.append(f"{where}: rendered {json.dumps(got)} but the chart gives {json.dumps(want)}")

    def true(self, where: str, ok: bool, what: str) -> None:
        if not ok:
            self.lines.append(f"{where}: {what}")


def pod_template(mode: str, workload: dict) -> dict:
    spec = workload["spec"]
    if mode == "cronjob":
        return spec["jobTemplate"]["spec"]["template"]
    if mode == "keda":
        return spec["jobTargetRef"]["template"]
    return spec["template"]


def check_pod(d: Drift, where: str, mode: str, v: dict, tpl: dict, fullname: str) -> None:
    meta, pod = tpl["metadata"], tpl["spec"]
    d.eq(f"{where} pod checksum/config", meta["annotations"]["checksum/config"],
         hashlib.sha256(v["config"]["toml"].encode()).hexdigest())
    d.eq(f"{where} pod securityContext", pod["securityContext"], v["podSecurityContext"])
    d.eq(f"{where} automountServiceAccountToken", pod["automountServiceAccountToken"], False)
    d.eq(f"{where} serviceAccountName", pod["serviceAccountName"], v["serviceAccount"]["name"] or fullname)
    d.eq(f"{where} restartPolicy", pod["restartPolicy"], "Always" if mode in LONG_RUNNING else "Never")
    d.eq(f"{where} terminationGracePeriodSeconds", pod.get("terminationGracePeriodSeconds"),
         v["deployment"]["terminationGracePeriodSeconds"] if mode in LONG_RUNNING else None)
    (c,) = pod["containers"]
    tag = v["image"].get("tag") or APP_VERSION
    d.eq(f"{where} image", c["image"], f"{v['image']['repository']}:{tag}")
    d.eq(f"{where} pod labels", {k: meta["labels"].get(k) for k in POD_LABELS}, POD_LABELS)
    d.eq(f"{where} imagePullPolicy", c["imagePullPolicy"], v["image"]["pullPolicy"])
    d.eq(f"{where} args", c["args"], ["watch", v["folder"]["path"]] if mode == "folder" else ARGS[mode])
    d.eq(f"{where} env", [env_pair(e) for e in c["env"]], expected_env(v))
    if mode == "folder":
        d.true(where, not AWS_ENV & {e["name"] for e in c["env"]}, "an AWS variable in folder mode")
    parallel = [e.get("value") for e in c["env"] if e["name"] == "SIS_PARALLEL"]
    d.eq(f"{where} SIS_PARALLEL", parallel, [str(v["parallel"])] if mode in PARALLEL_MODES else [])
    check_notify(d, where, v, c["env"])
    d.eq(f"{where} resources", c["resources"], v["resources"])
    d.eq(f"{where} securityContext", c["securityContext"], v["securityContext"])
    port = v["listen"]["port"]
    if listens(v):
        d.eq(f"{where} ports", c.get("ports"), [{"name": "http", "containerPort": port, "protocol": "TCP"}])
    else:
        d.true(where, "ports" not in c, "a container port without a listener")
    probes = {k: c.get(k, {}).get("httpGet") for k in ("startupProbe", "livenessProbe", "readinessProbe")}
    if mode in LONG_RUNNING:
        d.eq(f"{where} probes", probes, {
            "startupProbe": {"path": "/healthz", "port": "http"},
            "livenessProbe": {"path": "/healthz", "port": "http"},
            "readinessProbe": {"path": "/readyz", "port": "http"},
        })
    else:
        d.eq(f"{where} probes", probes, dict.fromkeys(probes))
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    # Folder mode: the watched volume instead of the /work emptyDir (watch works under its folder).
    want_mounts = {"tmp": "/tmp", "canvas-token": "/run/secrets/canvas"}
    if mode == "folder":
        want_mounts["data"] = v["folder"]["path"]
    else:
        want_mounts["work"] = "/work"
    if v["config"]["toml"]:
        want_mounts["config"] = "/etc/canvas-sis"
    d.eq(f"{where} volumeMounts", mounts, want_mounts)
    vols = {x["name"]: x for x in pod["volumes"]}
    d.eq(f"{where} volumes", sorted(vols), sorted(want_mounts))
    d.eq(f"{where} token secret", vols["canvas-token"]["secret"]["secretName"], v["token"]["existingSecret"])
    if mode == "folder":
        d.eq(f"{where} data volume", vols.get("data"), {"name": "data", "persistentVolumeClaim": {"claimName": claim_name(v, fullname)}})
    else:
        d.eq(f"{where} work sizeLimit", vols["work"]["emptyDir"]["sizeLimit"], v["workDir"]["sizeLimit"])
    if v["config"]["toml"]:
        d.eq(f"{where} config volume", vols["config"]["configMap"]["name"], fullname)


def expected_egress(v: dict) -> list:
    """The NetworkPolicy's egress the values call for: DNS, HTTPS, the OTLP collector's port and
    the extra ports in one rule; the Pod Identity agent's when the pods use it; the extra rules."""
    from urllib.parse import urlsplit

    np = v["networkPolicy"]
    ports = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]
    if v["otel"]["endpoint"]:
        u = urlsplit(v["otel"]["endpoint"])
        otlp = u.port or (443 if u.scheme == "https" else 80)
        if otlp != 443:
            ports.append({"port": otlp, "protocol": "TCP"})
    ports += [{"port": p, "protocol": "TCP"} for p in np["extraEgressPorts"]]
    rules = [{"ports": ports}]
    agent = np["podIdentityAgent"]
    # "auto": the pods take their AWS role from Pod Identity when no IRSA role is set — but folder
    # mode has no AWS, so "auto" never opens the agent there.
    if agent is True or (agent == "auto" and not v["serviceAccount"]["roleArn"] and v["mode"] != "folder"):
        rules.append({
            "to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}, {"ipBlock": {"cidr": "fd00:ec2::23/128"}}],
            "ports": [{"port": 80, "protocol": "TCP"}],
        })
    return rules + np["extraEgress"]


def check_mode(d: Drift, mode: str, defaults: dict, schema: dict) -> None:
    example = yaml.safe_load((CHART / "examples" / f"values-{mode}.yaml").read_text())
    v = merge(defaults, example)
    where = f"deploy/kubernetes/{mode}.yaml"
    d.eq(f"{where} mode", v["mode"], mode)
    check_values(d, where, f"values-{mode}.yaml", v, RENDERED / f"{mode}.yaml", schema)


def check_values(d: Drift, where: str, label: str, v: dict, rendered: Path, schema: dict) -> None:
    """Values `v` (defaults merged with `label`) against the chart rendered with them (`rendered`)."""
    mode = v["mode"]
    fullname = v["fullnameOverride"] or NAME
    for err in jsonschema.Draft7Validator(schema).iter_errors(v):
        d.lines.append(f"{label}: {'/'.join(map(str, err.path))}: {err.message}")
    docs = [x for x in yaml.safe_load_all(rendered.read_text()) if x]
    kinds = {x["kind"]: x for x in docs}
    for x in docs:
        d.eq(f"{where} {x['kind']} namespace", x["metadata"].get("namespace"), NAMESPACE)
    want_kinds = {WORKLOAD_KIND[mode]}
    if v["serviceAccount"]["create"]:
        want_kinds.add("ServiceAccount")
    if v["networkPolicy"]["enabled"]:
        want_kinds.add("NetworkPolicy")
    if mode == "deployment":
        want_kinds.add("PodDisruptionBudget")
    if mode == "keda":
        want_kinds.add("TriggerAuthentication")
    if mode == "folder" and not v["folder"]["persistence"]["existingClaim"]:
        want_kinds.add("PersistentVolumeClaim")
    if listens(v):
        want_kinds.add("Service")
        if v["serviceMonitor"]["enabled"]:
            want_kinds.add("ServiceMonitor")
    if v["config"]["toml"]:
        want_kinds.add("ConfigMap")
    if v["token"]["externalSecret"]["enabled"]:
        want_kinds.add("ExternalSecret")
    d.eq(f"{where} kinds", sorted(kinds), sorted(want_kinds))
    workload = kinds.get(WORKLOAD_KIND[mode])
    if workload is None:
        return
    check_pod(d, where, mode, v, pod_template(mode, workload), fullname)
    sa = kinds.get("ServiceAccount", {})
    d.eq(f"{where} role-arn", sa.get("metadata", {}).get("annotations", {}).get("eks.amazonaws.com/role-arn"),
         v["serviceAccount"]["roleArn"] or None)
    if "NetworkPolicy" in kinds:
        d.eq(f"{where} NetworkPolicy egress", kinds["NetworkPolicy"]["spec"]["egress"], expected_egress(v))
    if "ConfigMap" in kinds:
        d.eq(f"{where} ConfigMap canvas-sis.toml", kinds["ConfigMap"]["data"]["canvas-sis.toml"], v["config"]["toml"])
    if "Service" in kinds:
        d.eq(f"{where} Service port", kinds["Service"]["spec"]["ports"],
             [{"name": "http", "port": v["listen"]["port"], "targetPort": "http", "protocol": "TCP"}])
    if mode == "cronjob":
        spec = workload["spec"]
        d.eq(f"{where} schedule", spec["schedule"], v["cronjob"]["schedule"])
        d.eq(f"{where} concurrencyPolicy", spec["concurrencyPolicy"], "Forbid")
        d.eq(f"{where} backoffLimit", spec["jobTemplate"]["spec"]["backoffLimit"], v["cronjob"]["backoffLimit"])
    if mode == "deployment":
        d.eq(f"{where} replicas", workload["spec"]["replicas"], v["deployment"]["replicas"])
        d.eq(f"{where} PDB maxUnavailable", kinds["PodDisruptionBudget"]["spec"]["maxUnavailable"],
             v["deployment"]["podDisruptionBudget"]["maxUnavailable"])
    if mode == "folder":
        # One watcher per folder, whatever deployment.replicas says; the old pod lets go of the
        # (ReadWriteOnce) volume before the new one mounts it.
        d.eq(f"{where} replicas", workload["spec"]["replicas"], 1)
        d.eq(f"{where} strategy", workload["spec"].get("strategy"), {"type": "Recreate"})
        pvc = kinds.get("PersistentVolumeClaim")
        if pvc is not None:
            p = v["folder"]["persistence"]
            d.eq(f"{where} PVC name", pvc["metadata"]["name"], claim_name(v, fullname))
            d.eq(f"{where} PVC resource-policy", (pvc["metadata"].get("annotations") or {}).get("helm.sh/resource-policy"),
                 "keep")
            want_spec = {"accessModes": p["accessModes"], "resources": {"requests": {"storage": p["size"]}}}
            if p["storageClassName"]:  # empty: the field is left out, so the cluster's default applies
                want_spec["storageClassName"] = p["storageClassName"]
            d.eq(f"{where} PVC spec", pvc["spec"], want_spec)
    if mode == "keda":
        (trigger,) = workload["spec"]["triggers"]
        d.eq(f"{where} trigger type", trigger["type"], "aws-sqs-queue")
        d.eq(f"{where} trigger queueURL", trigger["metadata"]["queueURL"], v["sis"]["queueUrl"])
        d.eq(f"{where} trigger awsRegion", trigger["metadata"]["awsRegion"], v["aws"]["region"])
        d.eq(f"{where} trigger queueLength", trigger["metadata"]["queueLength"], v["keda"]["queueLength"])
        d.eq(f"{where} maxReplicaCount", workload["spec"]["maxReplicaCount"], v["keda"]["maxReplicaCount"])
        d.eq(f"{where} identityOwner", kinds["TriggerAuthentication"]["spec"]["podIdentity"]["identityOwner"],
             v["keda"]["identityOwner"])


# Literals the rendered files rely on that the templates must still contain (file -> strings).
TEMPLATE_LITERALS = {
    "_helpers.tpl": [
        "- name: SIS_QUEUE_URL", "- name: SIS_STATE_URL", "- name: SIS_BUCKET", "- name: CANVAS_BASE_URL",
        "- name: CANVAS_ACCOUNT_ID", "- name: CANVAS_TOKEN_FILE", "- name: CANVAS_SIS_CONFIG",
        "- name: SIS_WORK_DIR", "- name: SIS_PARALLEL", "int .Values.parallel", "- name: CANVAS_SIS_LOG_FORMAT", "- name: AWS_REGION",
        "- name: SIS_LISTEN_ADDR", "- name: OTEL_EXPORTER_OTLP_ENDPOINT", "- name: OTEL_EXPORTER_OTLP_PROTOCOL",
        "- name: OTEL_SERVICE_NAME", "- name: OTEL_RESOURCE_ATTRIBUTES", "- name: SIS_NOTIFY_WEBHOOK_FORMAT",
        "- name: SIS_NOTIFY_SNS_TOPIC_ARN", "- name: SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS",
        "- name: {{ $n.webhookUrl.env }}", "secretKeyRef:", "name: {{ $n.webhookUrl.existingSecret }}",
        "key: {{ $n.webhookUrl.key | quote }}", "checkov.io/skip2: CKV_K8S_35=",
        '"/run/secrets/canvas/%s" .Values.token.key', '"/etc/canvas-sis/canvas-sis.toml"', '"/work"',
        "path: /healthz", "path: /readyz", "port: http", "mountPath: /work", "mountPath: /tmp",
        "mountPath: /run/secrets/canvas", "mountPath: /etc/canvas-sis", "automountServiceAccountToken: false",
        "toYaml $v.securityContext", "toYaml $v.podSecurityContext", "toYaml $v.resources",
        '"%s:%s" $v.image.repository (include "canvas-sis.imageTag" $root)',
        "default .Chart.AppVersion .Values.image.tag", "app.kubernetes.io/component: worker", "$v.image.pullPolicy", "secretName: {{ $v.token.existingSecret }}",
        "sizeLimit: {{ $v.workDir.sizeLimit }}", ".Values.config.toml | sha256sum",
        '(has .Values.mode (list "deployment" "folder")) .Values.listen.enabled',
        '{{- $cloud := ne .Values.mode "folder" }}', "- name: data", "mountPath: {{ $v.folder.path }}",
        "persistentVolumeClaim:", 'claimName: {{ include "canvas-sis.claimName" $root }}',
        '"%s-data" (include "canvas-sis.fullname" .)) .Values.folder.persistence.existingClaim',
        '(not .Values.serviceAccount.roleArn) (ne .Values.mode "folder")',
    ],
    "folder.yaml": ["kind: Deployment", 'if eq .Values.mode "folder"', "replicas: 1", "type: Recreate",
                    '(list "watch" .Values.folder.path)', '"restartPolicy" "Always" "probes" true'],
    "pvc.yaml": ["kind: PersistentVolumeClaim", "(not .Values.folder.persistence.existingClaim)",
                 "helm.sh/resource-policy: keep", "toYaml .Values.folder.persistence.accessModes",
                 ".Values.folder.persistence.storageClassName", "storage: {{ .Values.folder.persistence.size }}"],
    "cronjob.yaml": ["kind: CronJob", "concurrencyPolicy: Forbid", '(list "run" "--until-empty")',
                     '"restartPolicy" "Never"', ".Values.cronjob.schedule"],
    "deployment.yaml": ["kind: Deployment", '(list "run")', '"probes" true', ".Values.deployment.replicas"],
    "pdb.yaml": ["kind: PodDisruptionBudget", ".Values.deployment.podDisruptionBudget.maxUnavailable"],
    "scaledjob.yaml": ["kind: ScaledJob", "type: aws-sqs-queue", '(list "run" "--until-empty")',
                       ".Values.sis.queueUrl", ".Values.keda.maxReplicaCount", "kind: TriggerAuthentication",
                       "provider: aws", ".Values.keda.identityOwner"],
    "serviceaccount.yaml": ["eks.amazonaws.com/role-arn", "automountServiceAccountToken: false"],
    "configmap.yaml": ["canvas-sis.toml: |", ".Values.config.toml"],
}


def check_templates(d: Drift) -> None:
    for name, literals in TEMPLATE_LITERALS.items():
        text = (CHART / "templates" / name).read_text()
        for literal in literals:
            d.true(f"helm/canvas-sis/templates/{name}", literal in text, f"no longer contains {literal!r}")


def first_difference(a, b, path: str = "") -> str:
    """The path of the first place where two parsed YAML values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if a.get(key) != b.get(key):
                return first_difference(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    return f"{path or '.'}: rendered {json.dumps(a)}, committed {json.dumps(b)}"


def check_against_renderer(d: Drift, rendered_dir: Path) -> None:
    for mode in MODES:
        def objects(path: Path) -> dict:
            docs = [x for x in yaml.safe_load_all(path.read_text()) if x]
            return {(x["kind"], x["metadata"]["name"]): x for x in docs}
        got, committed = objects(rendered_dir / f"{mode}.yaml"), objects(RENDERED / f"{mode}.yaml")
        where = f"deploy/kubernetes/{mode}.yaml"
        for key in sorted(set(got) | set(committed)):
            if key not in committed:
                d.lines.append(f"{where}: the chart renders {key[0]} {key[1]}, which the file lacks")
            elif key not in got:
                d.lines.append(f"{where}: has {key[0]} {key[1]}, which the chart does not render")
            elif got[key] != committed[key]:
                d.lines.append(f"{where} {key[0]}: {first_difference(got[key], committed[key])}")


def main() -> int:
    rendered_dir = None
    if len(sys.argv) == 3 and sys.argv[1] == "--rendered":
        rendered_dir = Path(sys.argv[2])
    elif len(sys.argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    d = Drift()
    for err in jsonschema.Draft7Validator(schema).iter_errors(defaults):
        d.lines.append(f"values.yaml: {'/'.join(map(str, err.path))}: {err.message}")
    for mode in MODES:
        check_mode(d, mode, defaults, schema)
    extras = sorted((CHART / "ci").glob("*.yaml"))
    for extra in extras:
        merged = merge(defaults, yaml.safe_load(extra.read_text()))
        rendered = rendered_dir / "ci" / extra.name if rendered_dir is not None else None
        if rendered is None:
            for err in jsonschema.Draft7Validator(schema).iter_errors(merged):
                d.lines.append(f"ci/{extra.name}: {'/'.join(map(str, err.path))}: {err.message}")
        elif not rendered.is_file():
            d.lines.append(f"ci/{extra.name}: not rendered ({rendered} is missing)")
        else:
            check_values(d, f"ci/{extra.name} rendered", f"ci/{extra.name}", merged, rendered, schema)
    check_templates(d)
    if rendered_dir is not None:
        check_against_renderer(d, rendered_dir)
    for line in d.lines:
        print(f"drift: {line}", file=sys.stderr)
    against = f", compared with the renderer's output in {rendered_dir}" if rendered_dir else ""
    checked = f" and {len(extras)} ci values files rendered" if rendered_dir else ""
    print(f"check_rendered: {len(MODES)} modes{checked}{against}, {len(d.lines)} drift(s)")
    return 1 if d.lines else 0


if __name__ == "__main__":
    sys.exit(main())
