#!/usr/bin/env bash
# `make image`: builds the Dockerfile's runtime stage with the real engine (BuildKit) and tags it $IMAGE
# (default modelctl:dev) and dev.local/modelctl:dev (Knative resolves no digest under dev.local/).
# The CA the host trusts (NODE_EXTRA_CA_CERTS, else SSL_CERT_FILE: this machine's egress re-signs TLS) goes to the
# npm steps as the BuildKit secret `npm-ca`, never into a layer. OCI labels: version from package.json, revision
# from git, source from IMAGE_SOURCE, package.json's repository, or the git remote (else this checkout).
# Prints the build time and the image's size.
set -euo pipefail
cd "$(dirname "$0")/../.."

DOCKER=${DOCKER:-$(command -v /usr/bin/docker || command -v docker)}
TARGET=${TARGET:-runtime}
IMAGE=${IMAGE:-modelctl:dev}
TAGS=(-t "$IMAGE")
[[ "$IMAGE" == modelctl:dev* ]] && TAGS+=(-t "dev.local/$IMAGE")

version=$(node -p 'require("./package.json").version')
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
source_url=${IMAGE_SOURCE:-$(node -p 'const r = require("./package.json").repository; (r && (r.url || r)) || ""')}
source_url=${source_url:-$(git remote get-url origin 2>/dev/null || true)}
source_url=${source_url:-$(pwd)}
# a clone of a local checkout has a bare path as its remote: the label is a URL either way
case "$source_url" in /*) source_url="file://$source_url" ;; esac

secret=()
ca=${NODE_EXTRA_CA_CERTS:-${SSL_CERT_FILE:-}}
if [ -n "$ca" ] && [ -s "$ca" ]; then secret=(--secret "id=npm-ca,src=$ca"); fi

started=$(date +%s.%N)
DOCKER_BUILDKIT=1 "$DOCKER" build --progress="${BUILD_PROGRESS:-plain}" --target "$TARGET" "${secret[@]}" \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "SOURCE=$source_url" \
  "${TAGS[@]}" .
size=$("$DOCKER" image inspect --format '{{.Size}}' "$IMAGE")
awk -v s="$started" -v e="$(date +%s.%N)" -v b="$size" -v i="$IMAGE" \
  'BEGIN { printf "image: %s built in %.1f s, %.0f MB (%d bytes)\n", i, e - s, b / 1e6, b }' >&2
