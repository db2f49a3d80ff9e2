#!/usr/bin/env bash
# Makes a Docker engine answer on /var/run/docker.sock, for `make image` and the image tests; idempotent.
#   1. installs Debian's docker.io (engine, CLI with BuildKit built in, containerd 1.6, runc) when dockerd is missing;
#   2. starts a containerd of its own for dockerd, then dockerd on it, both as root, logs under $DOCKER_LOG_DIR.
# Prints nothing but progress on stderr; exits non-zero with the log's tail when the engine does not come up.
#
# Sockets and state (chosen so a second containerd, e.g. the one kubelet uses on the default
# /run/containerd/containerd.sock, never meets this one):
#   dockerd                 unix:///var/run/docker.sock, data /var/lib/docker, exec root /var/run/docker
#   dockerd's containerd    /run/modelctl-docker/containerd/containerd.sock, root /var/lib/modelctl-docker/containerd,
#                           state /run/modelctl-docker/containerd (CRI plugin off, namespace "moby")
# dockerd would otherwise attach to any containerd already listening on /run/containerd/containerd.sock (its
# "system containerd" check), so it is always given this one with --containerd.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
DOCKER_LOG_DIR=${DOCKER_LOG_DIR:-/var/log/modelctl-docker}
RUN_DIR=/run/modelctl-docker
CONTAINERD_SOCK=$RUN_DIR/containerd/containerd.sock
CONTAINERD_ROOT=/var/lib/modelctl-docker/containerd
DOCKER_SOCK=/var/run/docker.sock
# the CLI that ships with Debian's engine builds with BuildKit on its own (a newer CLI elsewhere on PATH may need
# the buildx plugin)
DOCKER=${DOCKER:-$(command -v /usr/bin/docker || command -v docker || true)}

log() { echo "ensure-docker: $*" >&2; }

engine_answers() { [ -S "$DOCKER_SOCK" ] && [ -n "$DOCKER" ] && "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if engine_answers; then exit 0; fi

if [ "$(id -u)" != 0 ]; then
  log "the Docker engine is not running on $DOCKER_SOCK and starting it needs root (run: sudo $0)"
  exit 1
fi

if ! command -v dockerd >/dev/null || ! command -v containerd >/dev/null; then
  log "installing docker.io (Debian's Docker engine) with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  DOCKER=/usr/bin/docker
fi

mkdir -p "$DOCKER_LOG_DIR" "$RUN_DIR/containerd" "$CONTAINERD_ROOT"
# one starter at a time (make image and the tests may call this together); the second one finds the engine up
exec 9>"$RUN_DIR/ensure.lock"
flock 9
if engine_answers; then exit 0; fi

# 1. dockerd's own containerd
containerd_answers() { [ -S "$CONTAINERD_SOCK" ] && ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1; }
if ! containerd_answers; then
  cat >"$RUN_DIR/containerd.toml" <<EOF
version = 2
root = "$CONTAINERD_ROOT"
state = "$RUN_DIR/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = "$CONTAINERD_SOCK.debug"
[metrics]
  address = ""
EOF
  log "starting containerd for dockerd on $CONTAINERD_SOCK (log: $DOCKER_LOG_DIR/containerd.log)"
  "$here/detached.sh" containerd --config "$RUN_DIR/containerd.toml" >>"$DOCKER_LOG_DIR/containerd.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/containerd.pid"
  for _ in $(seq 1 60); do containerd_answers && break; sleep 0.5; done
  if ! containerd_answers; then
    log "containerd did not answer on $CONTAINERD_SOCK within 30 s; the end of its log:"
    tail -n 30 "$DOCKER_LOG_DIR/containerd.log" >&2
    exit 1
  fi
fi

# 2. dockerd on it, unless one is already starting
# a pid file outlives its process, and the pid may since belong to another program: only a dockerd counts
alive() { [ -f "$1" ] && [ "$(cat "/proc/$(cat "$1")/comm" 2>/dev/null)" = "$2" ]; }
if alive /var/run/docker.pid dockerd; then
  log "dockerd (pid $(cat /var/run/docker.pid)) is running but not answering yet: waiting"
else
  log "starting dockerd on $DOCKER_SOCK (log: $DOCKER_LOG_DIR/dockerd.log)"
  # a stale pid file makes dockerd refuse to start ("pid file found") when its pid now names another process
  rm -f "$DOCKER_SOCK" /var/run/docker.pid
  "$here/detached.sh" dockerd --containerd "$CONTAINERD_SOCK" --host "unix://$DOCKER_SOCK" \
    --pidfile /var/run/docker.pid >>"$DOCKER_LOG_DIR/dockerd.log" 2>&1 </dev/null &
fi
for _ in $(seq 1 120); do engine_answers && break; sleep 0.5; done
if ! engine_answers; then
  log "dockerd did not answer on $DOCKER_SOCK within 60 s; the end of its log:"
  tail -n 30 "$DOCKER_LOG_DIR/dockerd.log" >&2
  exit 1
fi
log "Docker engine $("$DOCKER" version --format '{{.Server.Version}}') ready ($("$DOCKER" info --format '{{.Driver}}, cgroup {{.CgroupVersion}}'))"
