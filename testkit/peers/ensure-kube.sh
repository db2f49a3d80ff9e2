#!/usr/bin/env bash
# Builds (once) the testing ground's Kubernetes peer from the Go module proxy: kube-apiserver and kubectl from
# k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3/etcdmain, at the versions pinned by the wrapper module
# in kube/ (go.mod + go.sum). Cached outside the repo under
# $MODELCTL_CACHE/kube-<kubernetes version>-<hash of go.mod+go.sum>/bin, so a second run reuses it.
#   ensure-kube.sh                  build if missing, print nothing else on success
#   ensure-kube.sh --print-bin-dir  build if missing, then print the folder holding the three binaries
# Knobs: KUBE_BUILD_PARALLELISM (go build -p, default: number of CPUs), GOMODCACHE/GOCACHE as usual for Go.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
module="$here/kube"
cache="${MODELCTL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelctl}"
version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$module/go.mod")"
if [ -z "$version" ]; then
  echo "ensure-kube: no k8s.io/kubernetes requirement in $module/go.mod" >&2
  exit 1
fi
key="$(cat "$module/go.mod" "$module/go.sum" | sha256sum | cut -c1-12)"
home="$cache/kube-$version-$key"
bin="$home/bin"

build() {
  command -v go >/dev/null || { echo "ensure-kube: Go is not on PATH (need go >= $(awk '$1 == "go" { print $2 }' "$module/go.mod"))" >&2; exit 1; }
  local tmp="$home.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp/bin"
  trap 'rm -rf "$tmp"' EXIT
  echo "ensure-kube: building kube-apiserver, kubectl, etcd for Kubernetes $version with $(go version | cut -d' ' -f3) into $home" >&2
  local start=$SECONDS
  # the version stamps make `kubectl version` and /version report the pinned release instead of v0.0.0-master
  local stamp="-X k8s.io/component-base/version.gitVersion=$version -X k8s.io/client-go/pkg/version.gitVersion=$version"
  local minor="${version#v1.}" && minor="${minor%%.*}"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp+=" -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  (
    cd "$module"
    # -mod=readonly: build exactly what go.mod/go.sum pin, never rewrite them (a drift fails loudly);
    # -buildvcs=false: the state of this git checkout must not leak into the etcd binary (reproducible bytes)
    GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -p "${KUBE_BUILD_PARALLELISM:-$(nproc)}" -trimpath -buildvcs=false \
      -ldflags "-s -w $stamp" -o "$tmp/bin/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl ./etcd
  )
  for tool in kube-apiserver kubectl etcd; do [ -x "$tmp/bin/$tool" ] || { echo "ensure-kube: $tool was not built" >&2; exit 1; }; done
  touch "$tmp/.complete"
  # the folder appears complete or not at all (rename is atomic)
  mv -T "$tmp" "$home" 2>/dev/null || rm -rf "$tmp"
  trap - EXIT
  echo "ensure-kube: ready in $((SECONDS - start)) s" >&2
}

if [ ! -f "$home/.complete" ]; then
  mkdir -p "$cache"
  # one build at a time per version: a second caller (another test run, `make peers`) waits, then reuses it
  exec 9>"$home.lock"
  flock 9
  if [ ! -f "$home/.complete" ]; then
    # a stale, incomplete folder (killed build) would block the atomic rename
    [ -e "$home" ] && rm -rf "$home"
    build
  fi
  exec 9>&-
fi
if [ "${1:-}" = "--print-bin-dir" ]; then echo "$bin"; fi
