#!/bin/sh
# A swarm node's engine. The node container is privileged but for CAP_SYS_RESOURCE (this
# machine's bounding set lacks it, so `--privileged` cannot start), and without
# --privileged Docker mounts the cgroup controllers read-only: the node's own cgroup
# subtree is made writable again (a bind remount, nothing else changes) so the engine's
# containers nest inside the node's cgroup, and die with it.
set -eu
for controller in /sys/fs/cgroup/*/; do
  mount -o remount,bind,rw "$controller" 2>/dev/null || true
done
# The engine's API on the node network too, for the host (cluster/swarm.py): that network
# is a bridge of the host's engine, reached from this machine only.
exec dockerd --host unix:///var/run/docker.sock --host tcp://0.0.0.0:2375 "$@"
