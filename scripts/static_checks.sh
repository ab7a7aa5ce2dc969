#!/usr/bin/env bash
# Static checks of everything that deploys canvas-sis: the Dockerfile, the Helm chart (through its
# rendered examples), the Kubernetes manifests, the Terraform module and the deploy/ files.
#
#   scripts/static_checks.sh        # from anywhere inside the repository
#
# Installs its own pinned tools (deploy/requirements-static.txt) into target/static-checks-venv
# on first use (re-installs when that file changes), then runs offline:
#   hadolint             Dockerfile
#   ShellCheck           this script, deploy/local/run.sh, deploy/kubernetes/render.sh
#   yamllint --strict    deploy/**/*.yaml, the chart's Chart.yaml, values.yaml, examples/ and ci/
#   JSON                 values.schema.json, deploy/**/*.json parse
#   check_rendered.py    values (defaults + each example) pass values.schema.json, and the rendered
#                        examples in deploy/kubernetes/ match the chart's values and templates
#   render               the chart rendered for each example by deploy/kubernetes/render (Go
#                        text/template + Sprig, the engines helm uses; Debian's golang-go and Sprig,
#                        installed when missing and root) equals the committed rendered files;
#                        helm/canvas-sis/ci/*.yaml (every optional branch) render to valid objects
#                        that check_rendered.py checks against their values as it does the examples
#   kubernetes-validate  --strict on deploy/kubernetes/*.yaml, plus the KEDA ScaledJob's Job spec
#                        (CRDs have no schema there, so it is validated as a batch/v1 Job)
#   checkov              Dockerfile, Kubernetes (deploy/kubernetes: the chart's rendered modes —
#                        checkov's helm runner needs a helm binary, which these machines lack),
#                        Terraform (terraform/ with its examples). Any failed check fails the
#                        script: severities need a Prisma Cloud key, so none is trusted to be low.
#                        Every skip is an inline `checkov:skip=ID:reason` next to what it skips.
#   check_json.py        deploy/ecs/task-definition.json and deploy/iam/worker-policy.json (no
#                        checkov runner for plain JSON): non-root, read-only, token and webhook
#                        URL as secrets, the SNS topic one the policy grants, no wildcard, only
#                        actions the worker calls, same statements as terraform/
#   terraform            fmt -check, validate (module and example) and test (terraform/tests,
#                        a mocked AWS provider) where terraform and a local AWS provider mirror
#                        exist (these machines have both: /usr/local/bin/terraform, /opt/tf-plugins);
#                        elsewhere the script says they were not run (a failure in CI)
# Any finding fails the script (exit 1). Needs python3 (3.11); the renderer's Go packages come
# from apt-get when they are missing and the script runs as root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${STATIC_CHECKS_VENV:-$ROOT/target/static-checks-venv}"
REQUIREMENTS="$ROOT/deploy/requirements-static.txt"
# Checkov would otherwise try to download check metadata from Prisma Cloud.
export BC_SKIP_MAPPING=TRUE CHECKOV_SKIP_DOWNLOAD=TRUE PYTHONWARNINGS=ignore

step() { printf '\n==> %s\n' "$*"; }
die() { printf '\nscripts/static_checks.sh: %s\n' "$*" >&2; exit 1; }
declare -a FAILED=()
check() { # check NAME COMMAND...: runs one check, records its failure, goes on with the others
    local name="$1"; shift
    step "$name"
    if "$@"; then
        printf '    ok: %s\n' "$name"
    else
        FAILED+=("$name")
        printf '    FAILED: %s\n' "$name"
    fi
}

ensure_venv() {
    local stamp="$VENV/.requirements.sha256" want
    want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
    if [ ! -x "$VENV/bin/python" ]; then
        step "creating $VENV"
        python3 -m venv "$VENV"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        step "installing deploy/requirements-static.txt"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
        echo "$want" > "$stamp"
    fi
}

json_files_parse() {
    local f ok=0
    while IFS= read -r f; do
        "$VENV/bin/python" -m json.tool "$f" > /dev/null || { echo "not JSON: $f"; ok=1; }
    done < <(find helm deploy -name '*.json' -not -path '*/node_modules/*' | sort)
    return "$ok"
}

# The ScaledJob's jobTargetRef is a batch/v1 JobSpec: validate it as one, strictly.
scaledjob_as_job() {
    local tmp rc
    tmp="$(mktemp -d)"
    "$VENV/bin/python" - "$tmp/scaledjob-job.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open("deploy/kubernetes/keda.yaml")) if d]
(sj,) = [d for d in docs if d["kind"] == "ScaledJob"]
job = {"apiVersion": "batch/v1", "kind": "Job",
       "metadata": {"name": sj["metadata"]["name"], "namespace": sj["metadata"]["namespace"]},
       "spec": sj["spec"]["jobTargetRef"]}
yaml.safe_dump(job, open(sys.argv[1], "w"))
PY
    "$VENV/bin/kubernetes-validate" --strict --quiet "$tmp/scaledjob-job.yaml"
    rc=$?
    rm -rf "$tmp"
    return "$rc"
}

# Renders the chart for each example with deploy/kubernetes/render (Go text/template + Sprig, as
# helm does; built from Debian's golang-go and Sprig packages in GOPATH mode, no network) and
# compares the result, object by object, with the committed deploy/kubernetes/*.yaml. The Debian
# packages are installed when missing and running as root (as CI does); otherwise this says it
# did not run.
GO_PACKAGES=(golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev)
render_chart_and_compare() {
    local gopath=/usr/share/gocode tmp mode rc=0
    if ! command -v go > /dev/null 2>&1 || [ ! -d "$gopath/src/github.com/Masterminds/sprig" ] \
        || [ ! -d "$gopath/src/gopkg.in/yaml.v2" ]; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get > /dev/null 2>&1; then
            echo "    installing ${GO_PACKAGES[*]} (Debian) for the renderer"
            DEBIAN_FRONTEND=noninteractive apt-get update -qq \
                && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                    "${GO_PACKAGES[@]}" > /dev/null || return 1
        else
            echo "    go and Sprig (Debian: ${GO_PACKAGES[*]}) are missing and this is not root: chart not rendered"
            # In CI a check that did not run is a failure, never a silent skip.
            [ -z "${CI:-}" ]
            return
        fi
    fi
    tmp="$(mktemp -d)"
    GO111MODULE=off GOPATH="$gopath" GOFLAGS="" GOCACHE="$ROOT/target/static-checks-go-cache" \
        go build -o "$tmp/render" ./deploy/kubernetes/render || rc=$?
    for mode in cronjob deployment keda folder; do
        [ "$rc" -eq 0 ] || break
        "$tmp/render" helm/canvas-sis canvas-sis canvas-sis "helm/canvas-sis/examples/values-$mode.yaml" \
            > "$tmp/$mode.yaml" || rc=$?
    done
    # helm/canvas-sis/ci/*.yaml turn on the branches the examples leave off: render them (into
    # $tmp/ci/, where check_rendered.py checks them against their values), validate them.
    mkdir -p "$tmp/ci"
    for values in helm/canvas-sis/ci/*.yaml; do
        [ "$rc" -eq 0 ] || break
        "$tmp/render" helm/canvas-sis canvas-sis canvas-sis "$values" > "$tmp/ci/$(basename "$values")" \
            && "$VENV/bin/kubernetes-validate" --strict --quiet "$tmp/ci/$(basename "$values")" || rc=$?
    done
    if [ "$rc" -eq 0 ]; then
        "$VENV/bin/python" deploy/kubernetes/check_rendered.py --rendered "$tmp" || rc=$?
    fi
    rm -rf "$tmp"
    return "$rc"
}

# Fails on any failed check; prints the failures, the skips and the totals.
checkov_clean() {
    local out rc=0
    out="$("$VENV/bin/checkov" --quiet --compact --skip-download -o cli "$@" 2>&1)" || rc=$?
    printf '%s\n' "$out" | grep -vE '^\s*$' | grep -vE 'WARNI|prismacloud' || true
    if ! printf '%s\n' "$out" | grep -qE 'Passed checks: [0-9]+, Failed checks: 0'; then
        return 1
    fi
    if printf '%s\n' "$out" | grep -E 'Failed checks: [1-9]'; then
        return 1
    fi
    return "$rc"
}

terraform_fmt() {
    if command -v terraform > /dev/null 2>&1; then
        TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive -diff terraform
    else
        echo "    terraform is not installed here: fmt not checked"
        # In CI a check that did not run is a failure, never a silent skip.
        [ -z "${CI:-}" ]
    fi
}

# terraform validate (module and example) and terraform test (terraform/tests: a mocked AWS
# provider, nothing reaches AWS), in a copy of terraform/ so no .terraform/ is left behind. The
# AWS provider comes from a local filesystem mirror (TF_PROVIDER_MIRROR, default /opt/tf-plugins,
# where this project's machines have one); without terraform or the mirror this says so, and
# passes except in CI (CI set), where a check that did not run is a failure.
terraform_validate_and_test() {
    local mirror="${TF_PROVIDER_MIRROR:-/opt/tf-plugins}" tmp rc=0
    if ! command -v terraform > /dev/null 2>&1 || [ ! -d "$mirror/registry.terraform.io/hashicorp/aws" ]; then
        echo "    terraform or its AWS provider mirror ($mirror) is missing here: not validated or tested"
        [ -z "${CI:-}" ]
        return
    fi
    tmp="$(mktemp -d)"
    printf '%s\n' 'provider_installation {' \
        "  filesystem_mirror {" "    path    = \"$mirror\"" '    include = ["registry.terraform.io/hashicorp/aws"]' '  }' \
        '  direct {' '    exclude = ["registry.terraform.io/hashicorp/aws"]' '  }' '}' > "$tmp/terraformrc"
    cp -r terraform "$tmp/module"
    # Chained with &&: `set -e` does not apply inside a function run as an `if` condition.
    (
        export TF_CLI_CONFIG_FILE="$tmp/terraformrc" TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
        cd "$tmp/module" \
            && { terraform init -backend=false -no-color > "$tmp/init.log" 2>&1 || { cat "$tmp/init.log"; false; }; } \
            && terraform validate -no-color \
            && cd examples/complete \
            && { terraform init -backend=false -no-color > "$tmp/init.log" 2>&1 || { cat "$tmp/init.log"; false; }; } \
            && terraform validate -no-color \
            && cd ../.. \
            && terraform test -no-color
    ) || rc=$?
    rm -rf "$tmp"
    return "$rc"
}

START=$(date +%s)
ensure_venv
INSTALLED=$(date +%s)

check "hadolint Dockerfile" "$VENV/bin/hadolint" Dockerfile
check "shellcheck (deploy scripts)" "$VENV/bin/shellcheck" scripts/static_checks.sh deploy/local/run.sh \
    deploy/kubernetes/render.sh
check "yamllint" "$VENV/bin/yamllint" --strict -c deploy/yamllint.yaml \
    deploy helm/canvas-sis/Chart.yaml helm/canvas-sis/values.yaml helm/canvas-sis/examples helm/canvas-sis/ci
check "JSON files parse" json_files_parse
check "chart values and rendered examples agree" "$VENV/bin/python" deploy/kubernetes/check_rendered.py
check "chart rendered by text/template + Sprig equals deploy/kubernetes" render_chart_and_compare
check "kubernetes-validate --strict deploy/kubernetes" \
    "$VENV/bin/kubernetes-validate" --strict --quiet deploy/kubernetes/cronjob.yaml \
    deploy/kubernetes/deployment.yaml deploy/kubernetes/keda.yaml deploy/kubernetes/folder.yaml
check "kubernetes-validate the ScaledJob's Job spec" scaledjob_as_job
check "checkov dockerfile" checkov_clean -f Dockerfile --framework dockerfile
check "checkov kubernetes" checkov_clean -d deploy/kubernetes --framework kubernetes
check "checkov terraform (and its secrets scan)" checkov_clean -d terraform --framework terraform secrets
check "ECS task definition and IAM policy (deploy/check_json.py)" "$VENV/bin/python" deploy/check_json.py
check "terraform fmt -check" terraform_fmt
check "terraform validate and terraform test (mocked AWS provider)" terraform_validate_and_test

END=$(date +%s)
step "static checks took $((END - INSTALLED)) s (install $((INSTALLED - START)) s)"
if [ "${#FAILED[@]}" -gt 0 ]; then
    die "failed: ${FAILED[*]}"
fi
echo "all static checks passed"
