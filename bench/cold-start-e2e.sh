#!/usr/bin/env bash
# `make bench-e2e`: the cold-start and steady-state figures on the real cluster (bench/cold-start-e2e.ts), into
# BENCHMARKS.md's "on the cluster" section. Prepares the cluster as test/e2e/run.sh does: starts it when it is not
# running (and stops it afterwards unless CLUSTER_KEEP=1), builds our image under its own tag (modelctl:bench-e2e,
# loaded as dev.local/modelctl:bench-e2e: the suite's dev.local/modelctl:e2e is left alone) and the in-cluster
# MLflow image (and the Hub stand-in's image when testkit/e2e/images/hub is there).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. cluster/lib.sh
if ! running kube-apiserver; then
  if [ "${CLUSTER_KEEP:-}" != 1 ]; then trap 'bash cluster/down.sh' EXIT; fi
  bash cluster/up.sh
fi
image="${BENCH_E2E_IMAGE:-modelctl:bench-e2e}"
make --no-print-directory image IMAGE="$image"
bash cluster/load-image.sh "$image" dev.local/modelctl:bench-e2e
bash testkit/e2e/images/mlflow/build.sh modelctl-e2e-mlflow:dev
bash cluster/load-image.sh modelctl-e2e-mlflow:dev dev.local/modelctl-e2e-mlflow:dev
if [ -f testkit/e2e/images/hub/build.sh ]; then
  bash testkit/e2e/images/hub/build.sh modelctl-e2e-hub:dev
  bash cluster/load-image.sh modelctl-e2e-hub:dev dev.local/modelctl-e2e-hub:dev
fi
KUBECONFIG="$KUBECONFIG_PATH" BENCH_E2E_IMAGE_REF=dev.local/modelctl:bench-e2e BENCH_E2E_DOCKER_IMAGE="$image" \
  node --import ./testkit/hub-server/register-ts.ts bench/cold-start-e2e.ts
