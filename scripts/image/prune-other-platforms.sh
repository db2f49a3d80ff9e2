#!/bin/sh
# Removes the native builds for other platforms from a production node_modules (the Dockerfile's deps stage runs
# it): only linux/<this arch> can ever load in the image. Usage: prune-other-platforms.sh <node_modules> [arch]
# (arch as Node names it: x64, arm64; default: this node's). Prints what it removed and the size kept.
#   onnxruntime-node/bin/napi-v*/<os>/<arch>/      darwin, win32 and linux/<other arch> (~245 MB of 290)
#   <package>/prebuilds/<os>-<arch>/               prebuildify layout (the bare-* packages: Bare runtime only)
#   fs-ext-extra-prebuilt/binaries/fs-ext-<os>-<arch>-….node
set -eu
modules=${1:?usage: prune-other-platforms.sh <node_modules> [arch]}
arch=${2:-$(node -p process.arch)}
keep_os_arch="linux-$arch"

for napi in "$modules"/onnxruntime-node/bin/napi-v*; do
  [ -d "$napi" ] || continue
  find "$napi" -mindepth 2 -maxdepth 2 -type d ! -path "$napi/linux/$arch" -print -exec rm -rf {} +
  find "$napi" -mindepth 1 -maxdepth 1 -type d -empty -print -delete
done
find "$modules" -type d -name prebuilds -prune | while read -r dir; do
  find "$dir" -mindepth 1 -maxdepth 1 -type d ! -name "$keep_os_arch" ! -name "$keep_os_arch-*" -print -exec rm -rf {} +
done
if [ -d "$modules/fs-ext-extra-prebuilt/binaries" ]; then
  find "$modules/fs-ext-extra-prebuilt/binaries" -type f -name 'fs-ext-*.node' ! -name "fs-ext-$keep_os_arch-*" \
    -print -delete
fi
echo "prune-other-platforms: kept $keep_os_arch; node_modules is $(du -sh "$modules" | cut -f1)"
