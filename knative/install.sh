#!/usr/bin/env bash
# Installs or removes modelctl's cluster side (the kustomize overlay config/<env>) in the current kubeconfig
# context, with the kubectl pinned by the repo (knative/kubectl.sh).
#   install.sh render dev|prod   print what apply installs (scripts/render-install.js: the models config is the one place
#                                of the warmer settings; IMAGE_PROXY, CHECK_INTERVAL_SECONDS,
#                                CONFIG_READ_RETRY_DELAY_SECONDS, MLFLOW_TRACKING_URI override it)
#   install.sh apply  dev|prod   server-side apply (field manager modelctl-install) of everything rendered,
#                                plus Secret modelctl-system/modelctl-hf-token when HF_TOKEN is set
#   install.sh apply-warmer dev|prod   the node warmer alone (namespace, models ConfigMap, agent + RBAC, token
#                                Secret): no Knative needed; the agents read the models ConfigMap directly
#   install.sh delete dev|prod   deletes everything `apply` created; keeps the config-features flags
#                                (label modelctl.dev/uninstall=keep: Knative says they cannot safely be
#                                turned off once Revisions use them)
# DRY_RUN=server sends every request as a server-side dry run (nothing is persisted).
# Prerequisites: Knative Serving and Eventing installed (namespace knative-serving, the CRDs); apply-warmer needs
# neither. `make build` first (scripts/render-install.js runs the compiled renderer).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
action="${1:-}"
env_name="${2:-}"
usage() { echo "usage: install.sh render|apply|apply-warmer|delete dev|prod" >&2; exit 2; }
[ -n "$action" ] && [ -n "$env_name" ] || usage
overlay="$root/config/$env_name"
[ -f "$overlay/kustomization.yaml" ] || { echo "install.sh: no overlay at config/$env_name (expected dev or prod)" >&2; exit 2; }

kubectl() { bash "$root/knative/kubectl.sh" "$@"; }
dry_run=()
if [ -n "${DRY_RUN:-}" ]; then dry_run=("--dry-run=${DRY_RUN}"); fi
manager=modelctl-install
namespace=modelctl-system
secret=modelctl-hf-token

rendered="$(mktemp)"
trap 'rm -f "$rendered"' EXIT
warmer=()
if [ "$action" = apply-warmer ]; then warmer=(--warmer); fi
kubectl kustomize "$overlay" | node "$root/scripts/render-install.js" "${warmer[@]}" >"$rendered"

case "$action" in
  render)
    cat "$rendered"
    ;;
  apply|apply-warmer)
    # --force-conflicts: the install owns these fields, also when someone edited them by hand
    kubectl apply --server-side --field-manager="$manager" --force-conflicts "${dry_run[@]}" -f "$rendered"
    if [ -n "${HF_TOKEN:-}" ]; then
      # the token goes through stdin, never onto a command line (ps would show it)
      printf '%s' "$HF_TOKEN" |
        kubectl create secret generic "$secret" --namespace="$namespace" --from-file=HF_TOKEN=/dev/stdin \
          --dry-run=client -o yaml |
        kubectl label --local -f - -o yaml app.kubernetes.io/part-of=modelctl app.kubernetes.io/component=hf-token |
        kubectl apply --server-side --field-manager="$manager" --force-conflicts "${dry_run[@]}" -f -
    else
      echo "install.sh: HF_TOKEN not set: no Secret $namespace/$secret (gated models need it: make deploy HF_TOKEN=hf_…)" >&2
    fi
    ;;
  delete)
    kubectl delete --ignore-not-found --wait=false "${dry_run[@]}" -l 'modelctl.dev/uninstall!=keep' -f "$rendered"
    kubectl delete --ignore-not-found --wait=false "${dry_run[@]}" --namespace="$namespace" secret "$secret"
    ;;
  *) usage ;;
esac
