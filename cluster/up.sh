#!/usr/bin/env bash
# `make cluster`: brings up the single-node Kubernetes + Knative cluster on this machine (root, cgroups v1) and
# prints the kubeconfig path. Builds what is missing first (cluster/build.sh, cached under $MODELCTL_CACHE).
# Idempotent: components already running are left alone. `make cluster-down` (cluster/down.sh) stops everything.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
start=$SECONDS

[ "$(id -u)" = 0 ] || die "needs root (kubelet, containerd, iptables)"
# what the node needs from Debian, installed when missing: containerd + runc (docker.io), the CNI plugins, iptables
missing=()
command -v containerd >/dev/null && command -v runc >/dev/null || missing+=(docker.io)
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
for pair in iptables:iptables ip:iproute2 openssl:openssl curl:curl python3:python3; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]} with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- builds (cached) -------------------------------------------------------------------------------------------
KUBE_BIN="$(bash "$CLUSTER_DIR/build.sh" kube)/bin"
# CLUSTER_BARE=1: the node alone (pause image, no add-ons), e.g. to debug the node without the Knative builds
if [ "${CLUSTER_BARE:-}" = 1 ]; then
  IMAGES="$(bash "$CLUSTER_DIR/build.sh" pause-image)"
else
  IMAGES="$(bash "$CLUSTER_DIR/build.sh" images)"
  GATEWAY_CRDS="$(bash "$CLUSTER_DIR/build.sh" gateway-api-crds)/standard-install.yaml"
fi
export PATH="$KUBE_BIN:$PATH"
kc() { kubectl --kubeconfig "$KUBECONFIG_PATH" "$@"; }
log "builds ready ($((SECONDS - start)) s)"

mkdir -p "$STATE"/{run,logs,pki,etcd,kubelet,pod-logs,cni/net.d,containerd,volumes}
chmod 700 "$STATE/pki"

# launch NAME CMD…: starts CMD detached (own session, no inherited descriptors: scripts/detached.sh), logs to
# $STATE/logs/NAME.log, pid in $STATE/run
launch() {
  local name="$1"; shift
  if running "$name"; then return; fi
  "$REPO_DIR/scripts/detached.sh" "$@" >>"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
}
# writes stdin to FILE only when it differs: kube-proxy exits when its configuration file changes
write_config() {
  local tmp="$1.new"
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}
wait_for() { # wait_for WHAT SECONDS CMD…
  local what="$1" limit="$2"; shift 2
  local until=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $until ] || die "$what not up after ${limit} s (logs: $STATE/logs)"
    sleep 1
  done
}

# ---- network: the node address, forwarding for the pod bridge ----------------------------------------------------
if ! ip link show "$NODE_IFACE" >/dev/null 2>&1; then
  # a bridge without ports: this kernel has no dummy interfaces, and a local address needs no carrier
  ip link add "$NODE_IFACE" type bridge
  ip addr add "$NODE_IP/32" dev "$NODE_IFACE"
  ip link set "$NODE_IFACE" up
fi
modprobe br_netfilter 2>/dev/null || true
sysctl -qw net.ipv4.ip_forward=1
[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] && sysctl -qw net.bridge.bridge-nf-call-iptables=1
# dockerd sets the FORWARD policy to DROP: accept the pod network's traffic
for dir in -s -d; do
  iptables -C FORWARD "$dir" "$POD_CIDR" -m comment --comment "$RULE_TAG" -j ACCEPT 2>/dev/null \
    || iptables -I FORWARD 1 "$dir" "$POD_CIDR" -m comment --comment "$RULE_TAG" -j ACCEPT
done

# ---- PKI: one CA; certificates for the API server, kubelet, admin ------------------------------------------------
pki="$STATE/pki"
cert() { # cert NAME SUBJECT [SAN]
  local name="$1" subj="$2" san="${3:-}"
  [ -f "$pki/$name.crt" ] && return
  openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  local ext="$pki/$name.ext"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n' >"$ext"
  [ -n "$san" ] && echo "subjectAltName=$san" >>"$ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 3650 \
    -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$ext"
}
if [ ! -f "$pki/ca.crt" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 3650 \
    -subj "/CN=modelctl-cluster-ca" 2>/dev/null
fi
cert apiserver "/CN=kube-apiserver" \
  "IP:$NODE_IP,IP:$SERVICE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
cert admin "/O=system:masters/CN=modelctl-admin"
cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "IP:$NODE_IP,DNS:$NODE_NAME"
cert kube-proxy "/CN=system:kube-proxy"
[ -f "$pki/sa.key" ] || { openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null && openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null; }

kubeconfig() { # kubeconfig FILE CERT
  local file="$1" c="$2"
  [ -f "$file" ] && return
  KUBECONFIG="$file.tmp" kubectl config set-cluster modelctl --server="https://$NODE_IP:$APISERVER_PORT" \
    --certificate-authority="$pki/ca.crt" --embed-certs >/dev/null
  KUBECONFIG="$file.tmp" kubectl config set-credentials "$c" --client-certificate="$pki/$c.crt" \
    --client-key="$pki/$c.key" --embed-certs >/dev/null
  KUBECONFIG="$file.tmp" kubectl config set-context modelctl --cluster=modelctl --user="$c" >/dev/null
  KUBECONFIG="$file.tmp" kubectl config use-context modelctl >/dev/null
  chmod 600 "$file.tmp" && mv "$file.tmp" "$file"
}
kubeconfig "$KUBECONFIG_PATH" admin
kubeconfig "$STATE/kubelet.kubeconfig" kubelet
kubeconfig "$STATE/kube-proxy.kubeconfig" kube-proxy

# ---- control plane ---------------------------------------------------------------------------------------------
launch etcd "$KUBE_BIN/etcd" --name=modelctl --data-dir="$STATE/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$((ETCD_PORT + 10))" \
  --initial-advertise-peer-urls="http://127.0.0.1:$((ETCD_PORT + 10))" \
  --initial-cluster="modelctl=http://127.0.0.1:$((ETCD_PORT + 10))" --log-level=warn
launch kube-apiserver "$KUBE_BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port="$APISERVER_PORT" \
  --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
  --client-ca-file="$pki/ca.crt" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --kubelet-client-certificate="$pki/admin.crt" --kubelet-client-key="$pki/admin.key" \
  --kubelet-certificate-authority="$pki/ca.crt" \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --authorization-mode=Node,RBAC --profiling=false --v=1
wait_for kube-apiserver 120 kc get --raw /readyz
launch kube-controller-manager "$KUBE_BIN/kube-controller-manager" --kubeconfig="$KUBECONFIG_PATH" \
  --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" --profiling=false
launch kube-scheduler "$KUBE_BIN/kube-scheduler" --kubeconfig="$KUBECONFIG_PATH" \
  --bind-address=127.0.0.1 --leader-elect=false --profiling=false

# ---- containerd (its own instance, not docker's), CNI ------------------------------------------------------------
write_config "$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$CONTAINERD_STATE"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_STATE/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "dev.local/pause:1"
  # this VM has no CAP_SYS_RESOURCE: without it every sandbox fails ("can't get final child's PID from pipe")
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF
write_config "$STATE/cni/net.d/10-modelctl.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "modelctl",
  "plugins": [
    {
      "type": "bridge", "bridge": "modelctl-br0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY" }]],
                "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": "$STATE/cni/ipam" }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
launch containerd containerd --config "$STATE/containerd/config.toml"
wait_for containerd 30 ctr --address "$CONTAINERD_SOCK" version

# images: import each tarball once per content (a marker per tarball lists the names it brought), and again when
# one of them is gone: the kubelet deletes unused images to reclaim disk under DiskPressure, the pause image too
# (containerd 1.6 does not report it pinned), and every new pod then fails "failed to pull dev.local/pause:1"
present="$(ctr_k8s images ls -q)"
for tarball in "$IMAGES"/*.tar; do
  marker="$STATE/containerd/imported-$(basename "$tarball" .tar)-$(stat -c %s-%Y "$tarball")"
  if [ -s "$marker" ] && ! grep -vxFf <(echo "$present") "$marker" >/dev/null; then continue; fi
  # ctr prints "unpacking NAME (sha256:…)...done" per image
  ctr_k8s images import "$tarball" | sed -n 's/^unpacking \([^ ]*\) .*/\1/p' >"$marker.new"
  mv "$marker.new" "$marker"
done
if [ -n "${CLUSTER_EXTRA_IMAGES:-}" ]; then
  for tarball in $CLUSTER_EXTRA_IMAGES; do ctr_k8s images import "$tarball" >/dev/null; done
fi

# ---- node: kubelet, kube-proxy ---------------------------------------------------------------------------------
write_config "$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# this machine runs cgroups v1 (kubelet 1.35+ refuses it unless told) with cgroupfs
failCgroupV1: false
cgroupDriver: cgroupfs
address: $NODE_IP
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $pki/ca.crt }
authorization: { mode: Webhook }
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
podLogsDir: $STATE/pod-logs
failSwapOn: false
# a shared build machine: no eviction for disk or memory the other tenants use
evictionHard: { memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%" }
imageGCHighThresholdPercent: 100
serializeImagePulls: false
resolvConf: /etc/resolv.conf
EOF
launch kubelet "$KUBE_BIN/kubelet" --config="$STATE/kubelet.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
  --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --root-dir="$STATE/kubelet" \
  --node-labels="nvidia.com/gpu.product=$NODE_GPU_PRODUCT,modelctl.dev/cluster=single-node" --v=1
write_config "$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: $STATE/kube-proxy.kubeconfig }
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# NodePorts answer on the node's cluster address only, never on the machine's own interfaces
nodePortAddresses: ["$NODE_IP/32"]
conntrack: { maxPerCore: 0 }
EOF
launch kube-proxy "$KUBE_BIN/kube-proxy" --config="$STATE/kube-proxy.yaml"
kc create clusterrolebinding modelctl-kube-proxy --clusterrole=system:node-proxier --user=system:kube-proxy \
  --dry-run=client -o yaml | kc apply -f - >/dev/null
wait_for "node $NODE_NAME" 120 kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
log "node Ready ($((SECONDS - start)) s)"

# ---- cluster add-ons ------------------------------------------------------------------------------------------
[ "${CLUSTER_BARE:-}" = 1 ] || bash "$CLUSTER_DIR/addons.sh" "$IMAGES" "$GATEWAY_CRDS"

log "cluster ready in $((SECONDS - start)) s"
echo "$KUBECONFIG_PATH"
