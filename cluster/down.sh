#!/usr/bin/env bash
# `make cluster-down`: stops everything `make cluster` started (containers first, then the node and control plane),
# removes its iptables rules, interfaces and mounts. The cluster's data (etcd, volumes) goes too, so the next
# `make cluster` starts clean; the builds and the node's image store stay cached.
#   down.sh          stop and wipe the cluster's state (keeps $STATE/containerd/root and the PKI)
#   down.sh --purge  also the image store and the PKI
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
purge="${1:-}"

stop() { # stop NAME [SIGNAL]: the process up.sh recorded, and wait for it
  local name="$1" p
  p="$(cat "$(pidfile "$name")" 2>/dev/null)" || return 0
  if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  fi
  rm -f "$(pidfile "$name")"
}

# the kubelet first, so it does not restart what is stopped below
stop kubelet
# every container and sandbox of the node: their shims outlive containerd, so stop them through it
if running containerd; then
  for t in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
  for _ in $(seq 1 20); do
    [ -z "$(ctr_k8s tasks ls -q 2>/dev/null | while read -r t; do ctr_k8s tasks ls 2>/dev/null | awk -v t="$t" '$1 == t && $3 == "RUNNING"'; done)" ] && break
    sleep 0.5
  done
  for t in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks delete -f "$t" >/dev/null 2>&1; done
  for c in $(ctr_k8s containers ls -q 2>/dev/null); do ctr_k8s containers delete "$c" >/dev/null 2>&1; done
fi
stop containerd
# shims whose containerd is gone (a killed run): only those started for this containerd's state folder
for p in $(pgrep -f "containerd-shim-runc-v2 -namespace k8s.io -address $CONTAINERD_SOCK" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
stop kube-proxy
stop kube-scheduler
stop kube-controller-manager
stop kube-apiserver
stop etcd

# kube-proxy's chains and our FORWARD rules
if [ -n "$(bash "$CLUSTER_DIR/build.sh" kube 2>/dev/null)" ]; then
  "$(bash "$CLUSTER_DIR/build.sh" kube)/bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
fi
for dir in -s -d; do
  while iptables -D FORWARD "$dir" "$POD_CIDR" -m comment --comment "$RULE_TAG" -j ACCEPT 2>/dev/null; do :; done
done
# the kubelet's own chains (kube-proxy --cleanup leaves them): KUBE-FIREWALL and its jumps from INPUT/OUTPUT, the
# canaries and the hint, in iptables and ip6tables
for ipt in iptables ip6tables; do
  for t in filter nat mangle; do
    for c in INPUT OUTPUT; do while "$ipt" -t "$t" -D "$c" -j KUBE-FIREWALL 2>/dev/null; do :; done; done
    for c in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
      "$ipt" -t "$t" -F "$c" 2>/dev/null && "$ipt" -t "$t" -X "$c" 2>/dev/null || true
    done
  done
done
# the CNI bridge plugin's masquerade chains (named CNI-<hash>, commented with the network name)
iptables -t nat -S POSTROUTING 2>/dev/null | grep -- '"name: \\"modelctl\\"' | sed 's/^-A/-D/' | while read -r rule; do
  eval "iptables -t nat $rule" 2>/dev/null
done
for chain in $(iptables -t nat -S 2>/dev/null | awk '/^-N CNI-/ { print $2 }'); do
  if iptables -t nat -S "$chain" 2>/dev/null | grep -q 'modelctl'; then
    iptables -t nat -F "$chain" 2>/dev/null; iptables -t nat -X "$chain" 2>/dev/null
  fi
done

# mounts left under the kubelet's and containerd's folders
for m in $(awk '{ print $2 }' /proc/mounts | grep -E "^($STATE|$CONTAINERD_STATE)/" | sort -r); do umount -l "$m" 2>/dev/null; done
# the pod sandboxes' network namespaces: containerd's CRI (only the cluster's containerd runs it; dockerd's has it
# off) names them cni-<uuid> under /var/run/netns; deleting one deletes its veth pair too
for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ { print $1 }'); do ip netns delete "$ns" 2>/dev/null; done
ip link del modelctl-br0 2>/dev/null
ip link del "$NODE_IFACE" 2>/dev/null

rm -rf "$STATE/etcd" "$STATE/kubelet" "$STATE/pod-logs" "$STATE/cni/ipam" "$STATE/volumes" "$STATE/run" "$CONTAINERD_STATE"
if [ "$purge" = --purge ]; then rm -rf "$STATE"; fi
log "stopped"
