#!/usr/bin/env bash
# Runs the kubectl this repo pins: built from the Kubernetes Go modules at the version in
# testkit/peers/kube/go.mod (k8s.io/kubernetes), by testkit/peers/ensure-kube.sh, cached under $MODELCTL_CACHE
# (needs Go the first time; minutes). Its embedded kustomize renders knative/ and config/.
# KUBECTL=/path/to/kubectl uses another one instead (it must be recent enough for `kustomize`'s `labels:`
# and server-side apply: v1.27 or newer).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${KUBECTL:-}" ]; then
  exec "$KUBECTL" "$@"
fi
bin_dir="$(bash "$root/testkit/peers/ensure-kube.sh" --print-bin-dir)"
exec "$bin_dir/kubectl" "$@"
