#!/usr/bin/env bash
# Builds (once, cached under $MODELCTL_CACHE/cluster-builds keyed by versions) every binary and image the
# single-node cluster runs. `build.sh all` builds everything; `build.sh NAME…` only those; each prints its folder.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
export CGO_ENABLED=0
GO_PAR="${CLUSTER_BUILD_PARALLELISM:-$(nproc)}"

build_kube() {
  local out="$1" version="$KUBE_VERSION"
  local stamp="-X k8s.io/component-base/version.gitVersion=$version -X k8s.io/client-go/pkg/version.gitVersion=$version"
  local minor="${version#v1.}" pkg
  minor="${minor%%.*}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp+=" -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  mkdir -p "$out/bin"
  cd "$CLUSTER_DIR/kube"
  GOFLAGS=-mod=readonly go build -p "$GO_PAR" -trimpath -buildvcs=false -ldflags "-s -w $stamp" -o "$out/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl ./etcd \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-controller-manager
}
kube() { once kube "$KUBE_VERSION-$(files_key "$CLUSTER_DIR/kube/go.mod" "$CLUSTER_DIR/kube/go.sum")" build_kube; }

# Knative release sources: ../shared/knative/src archives (vendor/ included), else the upstream release tag
knative_archive() {
  local repo="$1" tag="$2" f="$KNATIVE_SRC/$1-$2.tar.gz"
  if [ -f "$f" ]; then echo "$f"; return; fi
  local owner=knative && [ "$repo" = net-gateway-api ] && owner=knative-extensions
  local url="https://github.com/$owner/$repo/archive/refs/tags/$tag.tar.gz"
  log "$f is absent (a clone outside this workspace): fetching $url"
  mkdir -p "$BUILDS/downloads"
  curl -fsSL --retry 3 -o "$BUILDS/downloads/$repo-$tag.tar.gz" "$url" \
    || die "cannot fetch $url: put the release archive at $f"
  echo "$BUILDS/downloads/$repo-$tag.tar.gz"
}
unpack() { tar xzf "$(knative_archive "$REPO" "$TAG")" -C "$1" --strip-components=1; }
src() { REPO="$1" TAG="$2" once "src-$1" "$2" unpack; }

# go build -mod=vendor of each ./cmd/NAME of a Knative repo, static, into OUT/bin
build_knative_cmds() {
  local out="$1" dir
  dir="$(src "$REPO" "$TAG")"
  mkdir -p "$out/bin"
  cd "$dir"
  # one go build for all commands shares the package compile work
  local pkgs=() c
  for c in $CMDS; do pkgs+=("./cmd/$c"); done
  GOFLAGS=-mod=vendor go build -p "$GO_PAR" -trimpath -buildvcs=false -ldflags "-s -w" -o "$out/bin/" "${pkgs[@]}"
}
serving() { REPO=serving TAG=$SERVING_VERSION CMDS="controller webhook activator autoscaler queue" once serving-bin "$SERVING_VERSION" build_knative_cmds; }
eventing() { REPO=eventing TAG=$EVENTING_VERSION CMDS="controller webhook apiserver_receive_adapter mtping" once eventing-bin "$EVENTING_VERSION" build_knative_cmds; }
netgw() { REPO=net-gateway-api TAG=$NET_GATEWAY_API_VERSION CMDS="controller webhook" once net-gateway-api-bin "$NET_GATEWAY_API_VERSION" build_knative_cmds; }

build_coredns() {
  mkdir -p "$1/bin"
  GOBIN="$1/bin" GOFLAGS=-mod=mod go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
}
coredns() { once coredns "$COREDNS_VERSION" build_coredns; }

# Traefik from the Go module proxy, patched to build here (each patch: cluster/patches/README.md)
build_traefik() {
  local out="$1" mod src="$1/src"
  GOFLAGS=-mod=mod go mod download "github.com/traefik/traefik/v3@$TRAEFIK_VERSION"
  mod="$(go env GOMODCACHE)/github.com/traefik/traefik/v3@$TRAEFIK_VERSION"
  mkdir -p "$src" "$out/bin"
  cp -r "$mod/." "$src/" && chmod -R u+w "$src"
  cd "$src"
  # the nested module its go.mod replaces with ./pkg/config/dynamic/ext is not in the module zip
  mkdir -p pkg/config/dynamic/ext && cp "$CLUSTER_DIR/patches/traefik/dynamic-ext/"* pkg/config/dynamic/ext/
  local p
  for p in "$CLUSTER_DIR"/patches/traefik/*.patch; do patch -p1 <"$p"; done
  # the containous fork of go-http-auth is not served: upstream v0.4.0 has the same API
  go mod edit -replace github.com/abbot/go-http-auth=github.com/abbot/go-http-auth@v0.4.0
  # modules the proxy refuses, needed only by the ACME DNS providers dropped above: empty stand-ins for the graph
  local m d
  for m in github.com/nrdcg/oci-go-sdk/common/v1065 github.com/nrdcg/oci-go-sdk/dns/v1065 \
    github.com/sacloud/sacloud-sdk-go github.com/ucloud/ucloud-sdk-go github.com/yandex-cloud/go-sdk/services/dns; do
    d=".stubs/$(echo "$m" | tr / _)"
    mkdir -p "$d" && printf 'module %s\n\ngo 1.21\n' "$m" >"$d/go.mod"
    go mod edit -replace "$m=./$d"
  done
  GOFLAGS=-mod=mod go build -p "$GO_PAR" -trimpath -buildvcs=false \
    -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" -o "$out/bin/traefik" ./cmd/traefik
  cd "$out" && rm -rf "$src"
}
traefik() { once traefik "$TRAEFIK_VERSION-$(files_key "$CLUSTER_DIR"/patches/traefik/*.patch "$CLUSTER_DIR"/patches/traefik/dynamic-ext/*)" build_traefik; }

# kn (knative/client) from the release archive: it has no vendor/, so its Go workspace (. and pkg/) takes its modules
# from the Go proxy, as they are (nothing refused)
build_kn() {
  local out="$1" dir v=knative.dev/client/pkg/commands/version
  dir="$(src client "$CLIENT_VERSION")"
  mkdir -p "$out/bin"
  cd "$dir"
  GOFLAGS=-mod=readonly go build -p "$GO_PAR" -trimpath -buildvcs=false \
    -ldflags "-s -w -X $v.Version=$CLIENT_VERSION -X $v.GitRevision=$CLIENT_COMMIT" -o "$out/bin/kn" ./cmd/kn
}
kn() { once kn "$CLIENT_VERSION" build_kn; }

# func (knative/func) from the release archive: no vendor/, modules from the Go proxy, except two the proxy refuses
# (cluster/patches/README.md): the ECR credential helper's ecr-login at a released version instead of its
# pseudo-version, and func-operator by a stand-in of what func uses of it. Built in a copy (go.mod changes).
FUNC_ECR_LOGIN=v0.13.0
build_func() {
  local out="$1" dir src="$1/src" h=knative.dev/func/pkg/version
  dir="$(src func "$FUNC_VERSION")"
  mkdir -p "$src" "$out/bin"
  cp -r "$dir/." "$src/" && chmod -R u+w "$src" && rm -f "$src/.complete"
  mkdir -p "$src/.stubs" && cp -r "$CLUSTER_DIR/patches/func/func-operator" "$src/.stubs/"
  cd "$src"
  go mod edit \
    -replace "github.com/awslabs/amazon-ecr-credential-helper/ecr-login=github.com/awslabs/amazon-ecr-credential-helper/ecr-login@$FUNC_ECR_LOGIN" \
    -replace github.com/functions-dev/func-operator=./.stubs/func-operator
  GOFLAGS=-mod=mod go build -p "$GO_PAR" -trimpath -buildvcs=false \
    -ldflags "-s -w -X $h.Kver=$FUNC_VERSION -X $h.Hash=${FUNC_COMMIT:0:7}" -o "$out/bin/func" ./cmd/func
  cd "$out" && rm -rf "$src"
}
func_cli() {
  once func "$FUNC_VERSION-$(echo "$FUNC_ECR_LOGIN" | cat - $(find "$CLUSTER_DIR/patches/func" -type f | sort) | sha256sum | cut -c1-12)" build_func
}

build_pause() { mkdir -p "$1/bin" && cd "$CLUSTER_DIR/images/pause" && go build -trimpath -ldflags "-s -w" -o "$1/bin/pause" .; }
pause() { once pause "$(files_key "$CLUSTER_DIR"/images/pause/*)" build_pause; }

# Gateway API v1.6 CRDs (standard channel) from the sigs.k8s.io/gateway-api module's config/crd
build_gateway_crds() {
  GOFLAGS=-mod=mod go mod download "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION"
  local d; d="$(go env GOMODCACHE)/sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION/config/crd/standard"
  [ -d "$d" ] || { echo "no $d"; return 1; }
  local f
  for f in "$d"/*.yaml; do cat "$f"; echo "---"; done >"$1/standard-install.yaml"
}
gateway_crds() { once gateway-api-crds "$GATEWAY_API_VERSION" build_gateway_crds; }

# every image the cluster runs, FROM scratch, as docker-archive tarballs for `ctr images import`
# FROM scratch has no time zone database: Go's own (zoneinfo.zip) goes in, found through ZONEINFO (PingSource
# schedules name zones, e.g. Etc/UTC)
image() { # image OUT TAG BINARY [USER]
  python3 "$CLUSTER_DIR/images/oci-archive.py" --tag "$2" --out "$1/$(basename "${2%%:*}").tar" --user "${4:-65532}" \
    --entrypoint "/ko-app/$(basename "$3")" --env KO_DATA_PATH=/var/run/ko --env ZONEINFO=/usr/share/zoneinfo.zip \
    "$3:/ko-app/$(basename "$3")" "$(go env GOROOT)/lib/time/zoneinfo.zip:/usr/share/zoneinfo.zip"
}
pause_image() { python3 "$CLUSTER_DIR/images/oci-archive.py" --tag dev.local/pause:1 --out "$1/pause.tar" --user 65535 \
    --entrypoint /pause "$PAUSE/bin/pause:/pause"; }
build_images() {
  local out="$1" c
  pause_image "$out"
  for c in controller webhook activator autoscaler queue; do
    image "$out" "dev.local/knative/serving-$c:$SERVING_VERSION" "$SERVING/bin/$c"
  done
  for c in controller webhook apiserver_receive_adapter mtping; do
    image "$out" "dev.local/knative/eventing-${c//_/-}:$EVENTING_VERSION" "$EVENTING/bin/$c"
  done
  for c in controller webhook; do
    image "$out" "dev.local/knative/net-gateway-api-$c:$NET_GATEWAY_API_VERSION" "$NETGW/bin/$c"
  done
  image "$out" "dev.local/coredns:$COREDNS_VERSION" "$COREDNS/bin/coredns"
  image "$out" "dev.local/traefik:$TRAEFIK_VERSION" "$TRAEFIK/bin/traefik"
}
# bump when what goes into the images changes
IMAGES_RECIPE=2
images() {
  PAUSE="$(pause)" SERVING="$(serving)" EVENTING="$(eventing)" NETGW="$(netgw)" COREDNS="$(coredns)" TRAEFIK="$(traefik)"
  export PAUSE SERVING EVENTING NETGW COREDNS TRAEFIK
  once images "$(echo "$PAUSE $SERVING $EVENTING $NETGW $COREDNS $TRAEFIK $IMAGES_RECIPE" | cat - "$CLUSTER_DIR/images/oci-archive.py" | sha256sum | cut -c1-12)" build_images
}

main() {
  local what
  for what in "$@"; do
    case "$what" in
      kube) kube ;;
      serving) serving ;;
      eventing) eventing ;;
      net-gateway-api) netgw ;;
      coredns) coredns ;;
      traefik) traefik ;;
      pause) pause ;;
      gateway-api-crds) gateway_crds ;;
      images) images ;;
      pause-image) PAUSE="$(pause)" && export PAUSE && once pause-image "$(basename "$PAUSE")" pause_image ;;
      src-serving) src serving "$SERVING_VERSION" ;;
      src-eventing) src eventing "$EVENTING_VERSION" ;;
      src-net-gateway-api) src net-gateway-api "$NET_GATEWAY_API_VERSION" ;;
      kn) kn ;;
      func) func_cli ;;
      all) kube; images; gateway_crds ;;
      *) die "build.sh: unknown component $what" ;;
    esac
  done
}
main "$@"
