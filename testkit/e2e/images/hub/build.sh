#!/usr/bin/env bash
# Builds the e2e suite's Hub stand-in image (Dockerfile here) as $1 (default modelctl-e2e-hub:dev) from
# testkit/hub-server and the repo's zod; reused while those sources are the same (label dev.modelctl.sources).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
tag="${1:-modelctl-e2e-hub:dev}"
DOCKER=${DOCKER:-$(command -v /usr/bin/docker || command -v docker)}
[ -f "$root/node_modules/zod/package.json" ] || { echo "hub image: node_modules/zod missing: run make install" >&2; exit 1; }
sources=("$here/Dockerfile" $(find "$root/testkit/hub-server" -name '*.ts' ! -name '*.test.ts' | sort) "$root/node_modules/zod/package.json")
key="$(cat "${sources[@]}" | sha256sum | cut -c1-16)"
if [ "$("$DOCKER" image inspect -f '{{ index .Config.Labels "dev.modelctl.sources" }}' "$tag" 2>/dev/null)" = "$key" ]; then
  exit 0
fi
ctx="$(mktemp -d "${TMPDIR:-/tmp}/hub-image.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
cp "$here/Dockerfile" "$ctx/"
mkdir "$ctx/hub-server"
find "$root/testkit/hub-server" -name '*.ts' ! -name '*.test.ts' -exec cp {} "$ctx/hub-server/" \;
cp -a "$root/node_modules/zod" "$ctx/zod"
echo '{ "type": "module", "private": true }' >"$ctx/package.json"
DOCKER_BUILDKIT=1 "$DOCKER" build -q --label "dev.modelctl.sources=$key" -t "$tag" "$ctx" >/dev/null
echo "hub image: built $tag" >&2
