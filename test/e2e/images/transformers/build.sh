#!/usr/bin/env bash
# Builds the e2e suite's custom runtime image (Dockerfile here: transformers on CPU) as $1 (default
# modelctl-e2e-transformers:dev) with BuildKit, the host's CA as a build secret (this machine's egress re-signs
# TLS; see scripts/image/build-image.sh); reused while this folder is the same (label dev.modelctl.sources).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tag="${1:-modelctl-e2e-transformers:dev}"
# the CLI that comes with Debian's engine has BuildKit built in (a newer docker on PATH may lack buildx)
DOCKER=${DOCKER:-$(command -v /usr/bin/docker || command -v docker)}
key="$(cat "$here"/Dockerfile "$here"/requirements.txt "$here"/*.py | sha256sum | cut -c1-16)"
if [ "$("$DOCKER" image inspect -f '{{ index .Config.Labels "dev.modelctl.sources" }}' "$tag" 2>/dev/null)" = "$key" ]; then
  exit 0
fi
secret=()
ca=${SSL_CERT_FILE:-${NODE_EXTRA_CA_CERTS:-}}
if [ -n "$ca" ] && [ -s "$ca" ]; then secret=(--secret "id=pip-ca,src=$ca"); fi
started=$(date +%s)
DOCKER_BUILDKIT=1 "$DOCKER" build -q "${secret[@]}" --label "dev.modelctl.sources=$key" -t "$tag" "$here" >/dev/null
echo "transformers image: built $tag in $(( $(date +%s) - started )) s" >&2
