#!/bin/sh
# Removes what up.sh made: kills every process left in the namespaces, then deletes them.
#   deploy/netns/down.sh [PREFIX]
set -u
prefix="${1:-cairn}"
for ns in $(ip netns list | awk '{print $1}' | grep -E "^$prefix-(n[0-9]+|client|sw)$"); do
  pids="$(ip netns pids "$ns" 2>/dev/null)"
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  ip netns del "$ns"
done
exit 0
