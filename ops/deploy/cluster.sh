#!/usr/bin/env bash
# cluster.sh — a Redis Cluster on this machine's loopback: three masters and three replicas
# (AOF on, as a partition's servers should be), created with `redis-cli --cluster create`. For
# trying partitions on a cluster by hand, and for the CI suites that need one.
#
# Usage:
#   ops/deploy/cluster.sh up [--dir D] [--port P] [--node-timeout MS]
#   ops/deploy/cluster.sh down [--dir D]
#   ops/deploy/cluster.sh reshard [--dir D] [--port P] [--slots N] FROM_PORT TO_PORT
#                        (moves N slots, default 1000, from one master to another, keys and all)
#
#   --dir D            where the nodes keep their files, logs and pids (default /tmp/tradestate-cluster)
#   --port P           the six nodes on P..P+5 (default 7300); the first three start as masters
#   --node-timeout MS  how long a master may be silent before its replica takes over (default 5000)
#
# `up` prints the backend URL for the partitions:
#   redis+cluster://127.0.0.1:7300,127.0.0.1:7301,127.0.0.1:7302
# and returns once every node says cluster_state:ok (at most 60 s). The three partitions may share
# one cluster: their keys differ by prefix. Needs redis-server and redis-cli
# (apt-get install -y redis-server redis-tools).
set -euo pipefail

die() { echo "cluster.sh: $*" >&2; exit 1; }

cmd=${1:-}
[ -n "$cmd" ] || die "usage: cluster.sh up|down|reshard [options]"
shift
dir=/tmp/tradestate-cluster
port=7300
node_timeout=5000
slots=1000
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --node-timeout) node_timeout=$2; shift 2 ;;
    --slots) slots=$2; shift 2 ;;
    -*) die "unknown option $1" ;;
    *) args+=("$1"); shift ;;
  esac
done

# shellcheck source=ops/deploy/common.sh
. "$(dirname "$0")/common.sh"

node() { # port
  local p=$1 dir_p="$dir/node-$1"
  mkdir -p "$dir_p"
  rm -rf "${dir_p:?}"/*
  redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
    --cluster-enabled yes --cluster-config-file "$dir_p/nodes.conf" \
    --cluster-node-timeout "$node_timeout" --dir "$dir_p" --enable-debug-command local \
    --daemonize yes --pidfile "$dir/node-$p.pid" --logfile "$dir/node-$p.log"
  wait_ping "$p"
}

# Waits until every node on $port..$port+5 says cluster_state:ok, agrees on the slots, and each
# master has its replica in sync.
wait_ok() {
  for _ in $(seq 600); do
    local ok=1
    for i in 0 1 2 3 4 5; do
      redis-cli -p $((port + i)) cluster info 2>/dev/null | grep -q '^cluster_state:ok' || ok=0
    done
    # Each master with its replica attached and in sync, so `ack = "replicated"` can be met.
    for i in 0 1 2; do
      redis-cli -p $((port + i)) info replication 2>/dev/null | grep -q 'state=online' || ok=0
    done
    if [ $ok = 1 ] && redis-cli --cluster check "127.0.0.1:$port" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  die "the cluster did not reach cluster_state:ok within 60 s (logs in $dir)"
}

case "$cmd" in
  down)
    down
    ;;
  up)
    down
    mkdir -p "$dir"
    hosts=()
    for i in 0 1 2 3 4 5; do
      node $((port + i))
      hosts+=("127.0.0.1:$((port + i))")
    done
    redis-cli --cluster create "${hosts[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 \
      || die "redis-cli --cluster create failed: $(tail -5 "$dir/create.log")"
    wait_ok
    echo "redis+cluster://127.0.0.1:$port,127.0.0.1:$((port + 1)),127.0.0.1:$((port + 2))"
    ;;
  reshard)
    [ ${#args[@]} -eq 2 ] || die "usage: cluster.sh reshard [--slots N] FROM_PORT TO_PORT"
    id_of() { redis-cli -p "$1" cluster myid; }
    from=$(id_of "${args[0]}") || die "no node on port ${args[0]}"
    to=$(id_of "${args[1]}") || die "no node on port ${args[1]}"
    redis-cli --cluster reshard "127.0.0.1:${args[0]}" --cluster-from "$from" --cluster-to "$to" \
      --cluster-slots "$slots" --cluster-yes --cluster-pipeline 100 >"$dir/reshard.log" 2>&1 \
      || die "redis-cli --cluster reshard failed: $(tail -5 "$dir/reshard.log")"
    echo "moved $slots slots from 127.0.0.1:${args[0]} to 127.0.0.1:${args[1]}"
    ;;
  *)
    die "unknown command $cmd (expected up, down or reshard)"
    ;;
esac
