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
full="$image"
# docker save names an image without a registry docker.io/library/…, as containerd sees it
case "${image%%/*}" in *.*|*:*|localhost) ;; *) full="docker.io/$([[ "$image" == */* ]] || echo library/)$image" ;; esac
docker save "$image" | ctr_k8s images import - >/dev/null
for name in "$@"; do
  ctr_k8s images rm "$name" >/dev/null 2>&1 || true
  ctr_k8s images tag "$full" "$name" >/dev/null
done
log "loaded $image${*:+ as $*}"
