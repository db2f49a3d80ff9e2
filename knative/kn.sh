#!/usr/bin/env bash
# Runs the `kn` this repo pins, built from Knative's release source (knative/knative-client.sh; KN_BIN=… uses
# another one). Like kubectl, it uses KUBECONFIG (the cluster's: $MODELCTL_CACHE/cluster/kubeconfig).
exec bash "$(dirname "${BASH_SOURCE[0]}")/knative-client.sh" kn "$@"
