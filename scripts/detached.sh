#!/usr/bin/env bash
# detached.sh CMD…: runs CMD as a daemon would start: its own session, and none of the caller's file descriptors
# beyond stdin/stdout/stderr (the caller redirects those). A long-lived daemon (containerd, dockerd, kubelet…)
# must not hold what it happened to inherit: a `flock LOCK make …` caller's lock (the lock then outlives the run by
# days), a test runner's pipe (its reader never sees EOF), make's jobserver.
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  # 255: bash's own copy of this script, closed on exec anyway
  if [ "$fd" -gt 2 ] && [ "$fd" != 255 ]; then eval "exec $fd>&-"; fi
done
exec setsid "$@"
