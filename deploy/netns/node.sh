#!/bin/sh
# Runs node N of the namespaced cluster in PREFIX-nN, with the shared settings a real host uses
# (deploy/systemd/server.properties) and the per-host ones a host's cairn.env would hold.
#   deploy/netns/node.sh PREFIX N NODES DATA_DIR [extra cairn server flags...]
set -eu
prefix="$1"; n="$2"; nodes="$3"; data="$4"; shift 4
here="$(cd "$(dirname "$0")" && pwd)"
voters=""
i=1
while [ "$i" -le "$nodes" ]; do
  voters="${voters:+$voters,}$i@10.77.0.$i:9093"
  i=$((i + 1))
done
exec ip netns exec "$prefix-n$n" env \
  CAIRN_NODE_ID="$n" \
  CAIRN_ADVERTISED_LISTENERS="CLIENT://10.77.0.$n:9092,INTERNAL://10.77.0.$n:9093" \
  CAIRN_CONTROLLER_QUORUM_VOTERS="$voters" \
  CAIRN_LOG_DIR="$data" \
  node "$here/../../dist/src/cli/main.js" server --config "$here/../systemd/server.properties" "$@"
