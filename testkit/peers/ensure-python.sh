#!/usr/bin/env bash
# Creates (once) the testing ground's Python virtual environment: mlflow, scikit-learn, skl2onnx, onnx,
# onnxruntime, huggingface_hub at the versions pinned beside this script. Cached outside the repo under
# $MODELCTL_CACHE, keyed by the hash of the pins, so a second run reuses it.
#   ensure-python.sh                 build if missing, print nothing else on success
#   ensure-python.sh --print-python  build if missing, then print the venv's python path
#   ensure-python.sh --set NAME ...  the same for another set of pins, NAME/requirements.txt + NAME/constraints.txt
#                                    beside this script (clients: tritonclient + kserve; mlserver: MLServer)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${MODELCTL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelctl}"
pins="$here"
prefix="python"
if [ "${1:-}" = "--set" ]; then
  pins="$here/$2"
  prefix="python-$2"
  shift 2
fi
key="$(cat "$pins/requirements.txt" "$pins/constraints.txt" | sha256sum | cut -c1-12)"
venv="$cache/$prefix-$key"

# one build at a time per venv (two tests or engineers may ask at once): the second waits, then finds it complete
mkdir -p "$cache"
exec 9>"$venv.lock"
flock 9
if [ ! -f "$venv/.complete" ]; then
  python="$(command -v python3.11 || command -v python3)"
  echo "ensure-python: building $venv with $("$python" --version)" >&2
  start=$(date +%s)
  # a venv's scripts embed its path, so it is built in place; .complete marks a finished build
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$pins/requirements.txt" -c "$pins/constraints.txt"
  touch "$venv/.complete"
  echo "ensure-python: ready in $(( $(date +%s) - start )) s" >&2
fi
if [ "${1:-}" = "--print-python" ]; then echo "$venv/bin/python"; fi
