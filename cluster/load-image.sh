#!/usr/bin/env bash
# Loads a Docker engine's image into the cluster node's containerd (no registry): docker save | ctr import,
# then tags it with every further name given (e.g. the name an overlay's `images:` rewrites to).
#   load-image.sh IMAGE [NAME…]
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
image="${1:?usage: load-image.sh IMAGE [NAME…]}"
shift
running containerd || die "the cluster is not running (make cluster)"
# containerd sees an image named without a registry as docker.io/[library/]NAME
full="$image"
if [[ "$image" != */* ]]; then
  full="docker.io/library/$image"
else
  case "${image%%/*}" in *.*|*:*|localhost) ;; *) full="docker.io/$image" ;; esac
fi
docker save "$image" | ctr_k8s images import - >/dev/null
for name in "$@"; do
  ctr_k8s images rm "$name" >/dev/null 2>&1 || true
  ctr_k8s images tag "$full" "$name" >/dev/null
done
log "loaded $image${*:+ as $*}"
