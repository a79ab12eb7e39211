#!/bin/sh
# Three "hosts" and a client on this machine: Linux network namespaces PREFIX-n1..n3 and
# PREFIX-client, each with its own address on 10.77.0.0/24, joined by a bridge that lives in a
# namespace of its own (PREFIX-sw), so the machine's own network is not touched.
#   deploy/netns/up.sh [PREFIX] [NODES]      (root; default PREFIX cairn, NODES 3)
# Node i is 10.77.0.i on interface eth0 of PREFIX-ni; the client is 10.77.0.100. Undo with down.sh.
set -eu
prefix="${1:-cairn}"
nodes="${2:-3}"
[ "$(id -u)" = 0 ] || { echo "up.sh: needs root (ip netns)" >&2; exit 1; }

ip netns add "$prefix-sw"
ip -n "$prefix-sw" link add br0 type bridge
ip -n "$prefix-sw" link set br0 up
ip -n "$prefix-sw" link set lo up

# attach NAMESPACE ADDRESS TAG: a veth pair with one end (eth0) in NAMESPACE, the other on the bridge.
attach() {
  ns="$1"; address="$2"; tag="$3"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add eth0 type veth peer name "v$tag" netns "$prefix-sw"
  ip -n "$ns" addr add "$address/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$prefix-sw" link set "v$tag" master br0
  ip -n "$prefix-sw" link set "v$tag" up
}

i=1
while [ "$i" -le "$nodes" ]; do
  attach "$prefix-n$i" "10.77.0.$i" "n$i"
  i=$((i + 1))
done
attach "$prefix-client" "10.77.0.100" "client"
echo "up: $prefix-n1..n$nodes at 10.77.0.1..$nodes, $prefix-client at 10.77.0.100 (bridge in $prefix-sw)"
