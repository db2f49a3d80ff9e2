#!/usr/bin/env bash
# Runs the `func` this repo pins, built from Knative's release source (knative/knative-client.sh; FUNC_BIN=… uses
# another one). Like kubectl, it uses KUBECONFIG (the cluster's: $MODELCTL_CACHE/cluster/kubeconfig).
exec bash "$(dirname "${BASH_SOURCE[0]}")/knative-client.sh" func "$@"
