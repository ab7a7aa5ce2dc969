#!/usr/bin/env bash
# Re-renders deploy/kubernetes/{cronjob,deployment,keda,folder}.yaml from helm/canvas-sis and its
# examples with deploy/kubernetes/render (Go text/template + Sprig, as helm does). Needs Debian's
# golang-go, golang-github-masterminds-sprig-dev and golang-gopkg-yaml.v2-dev (GOPATH mode, no
# network). scripts/static_checks.sh fails when the committed files differ from this output.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS="" GOCACHE="$ROOT/target/static-checks-go-cache" \
    go build -o "$tmp/render" ./deploy/kubernetes/render
for mode in cronjob deployment keda folder; do
    {
        echo "# Rendered from helm/canvas-sis with examples/values-$mode.yaml (release canvas-sis,"
        echo "# namespace canvas-sis) by deploy/kubernetes/render.sh; where helm exists the same objects come from:"
        echo "#   helm template canvas-sis helm/canvas-sis -n canvas-sis -f helm/canvas-sis/examples/values-$mode.yaml"
        "$tmp/render" helm/canvas-sis canvas-sis canvas-sis "helm/canvas-sis/examples/values-$mode.yaml"
    } | sed -e "s/[[:space:]]*$//" > "deploy/kubernetes/$mode.yaml"
    echo "deploy/kubernetes/$mode.yaml"
done
