#!/usr/bin/env bash
# Runs a Knative client this repo pins (cluster/lib.sh): `knative-client.sh kn|func ARGS…`, built from Knative's
# release source by cluster/build.sh and cached under $MODELCTL_CACHE/cluster-builds (needs Go the first time;
# minutes). Like kubectl, it uses KUBECONFIG (the cluster's: $MODELCTL_CACHE/cluster/kubeconfig).
# KN_BIN / FUNC_BIN=/path/to/binary uses another one instead. knative/kn.sh and knative/func.sh call it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="${1:?usage: knative-client.sh kn|func ARGS…}"
shift
override_var="$(echo "$name" | tr '[:lower:]' '[:upper:]')_BIN"
if [ -n "${!override_var:-}" ]; then
  exec "${!override_var}" "$@"
fi
dir="$(bash "$root/cluster/build.sh" "$name")"
exec "$dir/bin/$name" "$@"
