#!/usr/bin/env bash
# Builds the e2e suite's MLflow image (Dockerfile here) as $1 (default modelctl-e2e-mlflow:dev) from the testing
# ground's venv; reused while the venv is the same (label dev.modelctl.venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
tag="${1:-modelctl-e2e-mlflow:dev}"
python="$(bash "$root/testkit/peers/ensure-python.sh" --print-python)"
venv="$(dirname "$(dirname "$python")")"
home="$(awk -F' = ' '$1 == "home" { print $2 }' "$venv/pyvenv.cfg")"
prefix="$(dirname "$home")"
[ "$prefix" != /usr ] || { echo "mlflow image: the venv's Python is the system's ($home): not supported yet" >&2; exit 1; }
# rebuilt when the venv or this Dockerfile changes
key="$(basename "$venv")-$(sha256sum "$here/Dockerfile" | cut -c1-12)"
if [ "$(docker image inspect -f '{{ index .Config.Labels "dev.modelctl.venv" }}' "$tag" 2>/dev/null)" = "$key" ]; then
  exit 0
fi
ctx="$(mktemp -d "${TMPDIR:-/tmp}/mlflow-image.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
cp "$here/Dockerfile" "$ctx/"
# hard links when the context is on the same file system (no copy of ~1 GB), else a copy
cp -al "$prefix" "$ctx/python" 2>/dev/null || cp -a "$prefix" "$ctx/python"
cp -al "$venv" "$ctx/venv" 2>/dev/null || cp -a "$venv" "$ctx/venv"
docker build -q --label "dev.modelctl.venv=$key" --build-arg "PY_PREFIX=$prefix" --build-arg "VENV=$venv" -t "$tag" "$ctx" >/dev/null
echo "mlflow image: built $tag" >&2
