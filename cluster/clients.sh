#!/usr/bin/env bash
# `make kn` / `make func`: builds Knative's CLIs (once per version, cluster/build.sh) and links them into
# $MODELCTL_CACHE/cluster/bin, then prints each link. `kn` and `func` there use KUBECONFIG like kubectl.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -gt 0 ] || set -- kn func
mkdir -p "$STATE/bin"
for what in "$@"; do
  case "$what" in kn | func) ;; *) die "clients.sh: unknown client $what (kn, func)" ;; esac
  dir="$(bash "$CLUSTER_DIR/build.sh" "$what")"
  ln -sfn "$dir/bin/$what" "$STATE/bin/$what"
  echo "$STATE/bin/$what"
done
