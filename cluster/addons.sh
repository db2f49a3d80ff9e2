#!/usr/bin/env bash
# The cluster's add-ons, applied by up.sh once the node is Ready: CoreDNS, the default StorageClass and static PVs,
# the Gateway API CRDs, Knative Serving, net-gateway-api + Traefik, Knative Eventing. Idempotent (server-side apply).
#   addons.sh IMAGES_DIR GATEWAY_CRDS_YAML
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
export PATH="$(bash "$CLUSTER_DIR/build.sh" kube)/bin:$PATH"
gateway_crds="$2"
kc() { kubectl --kubeconfig "$KUBECONFIG_PATH" "$@"; }
apply() { kc apply --server-side --force-conflicts --field-manager=modelctl-cluster "$@" >/dev/null; }
export DNS_IP STATE COREDNS_VERSION TRAEFIK_VERSION
export INGRESS_NODE_PORT="${CLUSTER_INGRESS_NODE_PORT:-31080}"
render() { envsubst '${DNS_IP} ${STATE} ${COREDNS_VERSION} ${TRAEFIK_VERSION} ${INGRESS_NODE_PORT}' <"$1"; }
start=$SECONDS

# a Knative release folder as one YAML stream (symlinks into vendor/ followed), ko:// references replaced by the
# dev.local images build.sh made (Knative skips tag resolution for dev.local)
knative_yaml() { # knative_yaml SRC_DIR SUBDIR [EXCLUDE_REGEX]
  local dir="$1/$2" exclude="${3:-^$}" f
  find -L "$dir" -name '*.yaml' | sort | grep -Ev "$exclude" | while read -r f; do cat "$f"; echo; echo "---"; done |
    sed -E \
      -e "s#ko://knative.dev/serving/cmd/([a-z_-]+)#dev.local/knative/serving-\1:$SERVING_VERSION#g" \
      -e "s#ko://knative.dev/net-gateway-api/cmd/([a-z_-]+)#dev.local/knative/net-gateway-api-\1:$NET_GATEWAY_API_VERSION#g" \
      -e "s#ko://knative.dev/eventing/cmd/([a-z_-]+)#dev.local/knative/eventing-\1:$EVENTING_VERSION#g" |
    # image names: eventing's apiserver_receive_adapter is built as eventing-apiserver-receive-adapter
    perl -pe 's#(dev\.local/knative/eventing-)([a-z_]+)#$1 . ($2 =~ tr/_/-/r)#ge'
}
# apply twice: the first pass creates the CRDs, the second the objects of those kinds once they are Established
# The second pass also creates objects Knative's own webhooks admit (Serving's queue-proxy Image): on a first start
# their pod may not serve yet ("failed calling webhook … connection refused", seen on a cold CI run), so that
# failure is retried for up to 5 minutes; any other failure stops at once.
apply_twice() {
  local f="$1" tries=0
  apply -f "$f" 2>/dev/null || true
  kc wait --for=condition=Established crd --all --timeout=60s >/dev/null
  until apply -f "$f" 2>"$tmp/apply.err"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ] || ! grep -q "failed calling webhook" "$tmp/apply.err"; then
      cat "$tmp/apply.err" >&2
      return 1
    fi
    [ "$tries" = 1 ] && log "a Knative webhook is not serving yet: retrying every 5 s"
    sleep 5
  done
}
# a 2-core node: the system pods keep a token CPU request (their limits stay) so model pods can ask for cores, and
# no HPA (with a token request, CPU utilization reads as huge and would scale the activator out)
slim() {
  local ns="$1"
  kc -n "$ns" set resources deployment --all --requests=cpu=10m >/dev/null
  kc -n "$ns" delete hpa --all --ignore-not-found >/dev/null
}
wait_available() { kc -n "$1" wait --for=condition=Available deployment --all --timeout="${2:-300}s" >/dev/null; }

src_dir() { bash "$CLUSTER_DIR/build.sh" "src-$1"; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# ---- DNS, storage, Gateway API --------------------------------------------------------------------------------
render "$CLUSTER_DIR/manifests/coredns.yaml" >"$tmp/coredns.yaml" && apply -f "$tmp/coredns.yaml"
# The PVs' folders: hostPath ignores a pod's fsGroup, so each folder is made the way a provisioner that honours it
# leaves a volume for fsGroup 1000 (the image's user, what `modelctl deploy` and the cleanup Service run as):
# group 1000, group-writable, setgid so what pods create stays in the group.
for n in 1 2 3; do install -d -m 2775 -o 0 -g 1000 "$STATE/volumes/pv-$n"; done
render "$CLUSTER_DIR/manifests/storage.yaml" >"$tmp/storage.yaml" && apply -f "$tmp/storage.yaml"
apply -f "$gateway_crds"

# ---- Knative Serving ---------------------------------------------------------------------------------------------
serving_src="$(src_dir serving)"
knative_yaml "$serving_src" config/core >"$tmp/serving.yaml"
apply_twice "$tmp/serving.yaml"
slim knative-serving

# ---- net-gateway-api + Traefik -------------------------------------------------------------------------------
netgw_src="$(src_dir net-gateway-api)"
knative_yaml "$netgw_src" config >"$tmp/net-gateway-api.yaml"
apply -f "$tmp/net-gateway-api.yaml"
render "$CLUSTER_DIR/manifests/traefik.yaml" >"$tmp/traefik.yaml"
wait_available knative-serving
apply -f "$tmp/traefik.yaml"
slim knative-serving
kc -n knative-serving patch configmap config-network --type merge \
  -p '{"data":{"ingress-class":"gateway-api.ingress.networking.knative.dev"}}' >/dev/null
# the dev overlay's image registry (registry.dev.example.com) is a name only: its images are imported into the
# node, so Knative must not try to resolve their tags to digests there
kc -n knative-serving patch configmap config-deployment --type merge \
  -p '{"data":{"registries-skipping-tag-resolving":"kind.local,ko.local,dev.local,registry.dev.example.com"}}' >/dev/null
kc -n knative-serving patch configmap config-domain --type merge -p '{"data":{"example.com":""}}' >/dev/null

# ---- Knative Eventing (core: ApiServerSource, PingSource; no brokers, channels, job sink, request-reply) ---------
eventing_src="$(src_dir eventing)"
knative_yaml "$eventing_src" config/core 'deployments/(job-sink|request-reply)\.yaml$' >"$tmp/eventing.yaml"
apply_twice "$tmp/eventing.yaml"
slim knative-eventing

wait_available kube-system
wait_available knative-serving
wait_available knative-eventing
log "add-ons ready ($((SECONDS - start)) s)"
