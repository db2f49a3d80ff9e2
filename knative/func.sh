#!/usr/bin/env bash
# Runs the `func` this repo pins (cluster/lib.sh), built from Knative's release source by cluster/build.sh and cached
# under $MODELCTL_CACHE/cluster-builds (needs Go the first time; minutes). Like kubectl, it uses KUBECONFIG
# (the cluster's: $MODELCTL_CACHE/cluster/kubeconfig). FUNC_BIN=/path/to/func uses another one instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${FUNC_BIN:-}" ]; then
  exec "$FUNC_BIN" "$@"
fi
dir="$(bash "$root/cluster/build.sh" func)"
exec "$dir/bin/func" "$@"
