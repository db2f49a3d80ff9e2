# Shared by the cluster scripts: cache locations, versions, and the build-once-then-reuse helper.
# shellcheck shell=bash
CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$CLUSTER_DIR/.." && pwd)"
CACHE="${MODELCTL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelctl}"
# built binaries and image tarballs, one folder per component and version (reused by every later `make cluster`)
BUILDS="$CACHE/cluster-builds"
# the running cluster's state: certificates, etcd data, containerd root, logs, kubeconfig
STATE="${CLUSTER_STATE:-$CACHE/cluster}"
KUBECONFIG_PATH="$STATE/kubeconfig"

KUBE_VERSION="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$CLUSTER_DIR/kube/go.mod")"
COREDNS_VERSION=v1.15.0
TRAEFIK_VERSION=v3.7.13
GATEWAY_API_VERSION=v1.6.1
SERVING_VERSION=knative-v1.23.0
EVENTING_VERSION=knative-v1.22.2
NET_GATEWAY_API_VERSION=knative-v1.23.0
CLIENT_VERSION=knative-v1.23.0
CLIENT_COMMIT=e411e88475005c36abaa42530521065210c8588d
FUNC_VERSION=knative-v1.23.1
FUNC_COMMIT=0f56a5defe8e94cb9a8566478c73bfaf48c07d02
KNATIVE_SRC="${KNATIVE_SRC:-$REPO_DIR/../shared/knative/src}"

log() { echo "cluster: $*" >&2; }
die() { echo "cluster: $*" >&2; exit 1; }

# once NAME KEY FUNCTION: runs FUNCTION OUT (OUT an empty temporary folder) unless $BUILDS/NAME-KEY is complete,
# then renames OUT into place atomically; prints the folder. One builder at a time per NAME-KEY (flock).
# FUNCTION runs with errexit, and neither it nor the lock's subshell is run as a condition (`if ! fn`, `( … ) || …`):
# bash ignores `set -e` inside any command run as a condition, so a failing step (go build) would pass unseen and
# the folder be cached as built.
once() {
  local name="$1" key="$2" fn="$3"
  local home="$BUILDS/$name-$key"
  if [ ! -f "$home/.complete" ]; then
    mkdir -p "$BUILDS"
    local rc errexit=$-
    set +e
    (
      set -e
      exec 9>"$home.lock"
      flock 9
      if [ ! -f "$home/.complete" ]; then
        [ -e "$home" ] && rm -rf "$home"
        tmp="$home.tmp.$$"
        rm -rf "$tmp" && mkdir -p "$tmp"
        start=$SECONDS
        log "building $name $key"
        set +e
        (set -e; "$fn" "$tmp") >"$tmp.log" 2>&1
        built=$?
        set -e
        if [ "$built" != 0 ]; then
          tail -30 "$tmp.log" >&2
          rm -rf "$tmp"
          die "building $name failed (full log: $tmp.log)"
        fi
        touch "$tmp/.complete"
        mv -T "$tmp" "$home"
        rm -f "$tmp.log"
        log "$name built in $((SECONDS - start)) s"
      fi
    )
    rc=$?
    case "$errexit" in *e*) set -e ;; esac
    [ "$rc" = 0 ] || exit 1
  fi
  echo "$home"
}

# the key of a folder's files (its go.mod/go.sum, patches…): first 12 hex of their sha256
files_key() { cat "$@" | sha256sum | cut -c1-12; }

# Addresses: the node's API endpoints live on a dummy interface (a cluster-only address, reachable from pods through
# their default route and from this host), pods on a CNI bridge, Services on kube-proxy's iptables rules.
NODE_NAME="${CLUSTER_NODE_NAME:-modelctl-node}"
NODE_IFACE=modelctl0
NODE_IP="${CLUSTER_NODE_IP:-10.213.0.1}"
POD_CIDR="${CLUSTER_POD_CIDR:-10.214.0.0/16}"
POD_GATEWAY="${POD_CIDR%%.0.0/16}.0.1"
SERVICE_CIDR="${CLUSTER_SERVICE_CIDR:-10.215.0.0/16}"
SERVICE_IP="${SERVICE_CIDR%%.0.0/16}.0.1"
DNS_IP="${SERVICE_CIDR%%.0.0/16}.0.10"
APISERVER_PORT=6443
ETCD_PORT=23790
# the GPU type the node claims (no GPU needed): the agent DaemonSet's affinity selects nvidia.com/gpu.product
NODE_GPU_PRODUCT="${CLUSTER_GPU_PRODUCT:-NVIDIA-L4}"
CONTAINERD_STATE=/run/modelctl-containerd
CONTAINERD_SOCK="$CONTAINERD_STATE/containerd.sock"
# every iptables rule this cluster adds carries this comment, so cluster-down removes exactly those
RULE_TAG=modelctl-cluster

pidfile() { echo "$STATE/run/$1.pid"; }
running() { local p; p="$(cat "$(pidfile "$1")" 2>/dev/null)" && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }
