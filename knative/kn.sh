#!/usr/bin/env bash
# Runs the `kn` this repo pins (cluster/lib.sh), built from Knative's release source by cluster/build.sh and cached
# under $MODELCTL_CACHE/cluster-builds (needs Go the first time; minutes). Like kubectl, it uses KUBECONFIG
# (the cluster's: $MODELCTL_CACHE/cluster/kubeconfig). KN_BIN=/path/to/kn uses another one instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${KN_BIN:-}" ]; then
  exec "$KN_BIN" "$@"
fi
dir="$(bash "$root/cluster/build.sh" kn)"
exec "$dir/bin/kn" "$@"
