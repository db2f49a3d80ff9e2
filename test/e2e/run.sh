#!/usr/bin/env bash
# `make test-e2e`: the end-to-end suite on the real cluster. Starts the cluster when it is not running (and stops
# it afterwards unless CLUSTER_KEEP=1), builds the image (`make image`) and loads it into the node under the dev
# overlay's name, then runs jest -c jest.e2e.config.js [ARGS…].
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
. cluster/lib.sh
started=0
if ! running kube-apiserver; then
  started=1
  if [ "${CLUSTER_KEEP:-}" != 1 ]; then trap 'bash cluster/down.sh' EXIT; fi
  bash cluster/up.sh
fi
image="${IMAGE:-modelctl:dev}"
make --no-print-directory image IMAGE="$image"
# the names the dev overlay's manifests use for our image (imageProxy + tag, from `make render ENV=dev`), and a
# dev.local name for ad-hoc Services
mapfile -t dev_images < <(bash knative/install.sh render dev | awk '$1 == "image:" && $2 ~ /\/modelctl:/ { print $2 }' | sort -u)
[ "${#dev_images[@]}" -gt 0 ] || { echo "test-e2e: no modelctl image in the dev overlay's render" >&2; exit 1; }
bash cluster/load-image.sh "$image" "${dev_images[@]}" dev.local/modelctl:e2e
# the in-cluster MLflow tracking server (testkit/e2e/images/mlflow)
bash testkit/e2e/images/mlflow/build.sh modelctl-e2e-mlflow:dev
bash cluster/load-image.sh modelctl-e2e-mlflow:dev dev.local/modelctl-e2e-mlflow:dev
# the Hub stand-in (testkit/e2e/images/hub) and the custom runtime built on transformers (test/e2e/images/transformers)
bash testkit/e2e/images/hub/build.sh modelctl-e2e-hub:dev
bash cluster/load-image.sh modelctl-e2e-hub:dev dev.local/modelctl-e2e-hub:dev
bash test/e2e/images/transformers/build.sh modelctl-e2e-transformers:dev
bash cluster/load-image.sh modelctl-e2e-transformers:dev dev.local/modelctl-e2e-transformers:dev
KUBECONFIG="$KUBECONFIG_PATH" node --experimental-vm-modules node_modules/jest/bin/jest.js -c jest.e2e.config.js --runInBand "$@"
