#!/usr/bin/env bash
# sentinel.sh — a Redis Sentinel deployment on this machine's loopback: for each NAME a master
# and one replica (AOF on, as a partition's server should be), watched by three sentinels. For
# trying partitions on Sentinel by hand, and for the CI suites that need one.
#
# Usage:
#   ops/deploy/sentinel.sh up [--dir D] [--port P] [--sentinel-port S] [--down-after MS] NAME...
#   ops/deploy/sentinel.sh down [--dir D]
#   ops/deploy/sentinel.sh restart-node [--dir D] PORT   (a node killed by hand comes back on
#                      its port with its files; the sentinels make it a replica of the new master)
#
#   --dir D            where the servers keep their files, logs and pids (default /tmp/tradestate-sentinel)
#   --port P           master of the i-th NAME on P+2i, its replica on P+2i+1 (default 7200)
#   --sentinel-port S  the three sentinels on S, S+1, S+2 (default 26400)
#   --down-after MS    how long a master may be silent before the sentinels fail it over
#                      (default 5000; tests that stall a master on purpose want more)
#
# `up` prints, per NAME, the backend URL for the partition:
#   ris redis+sentinel://127.0.0.1:26400,127.0.0.1:26401,127.0.0.1:26402/ris
# and returns once every sentinel sees every master with its replica (at most 30 s).
# Needs redis-server and redis-cli (apt-get install -y redis-server redis-tools); the sentinels
# run as `redis-sentinel` when installed (apt-get install -y redis-sentinel), else as
# `redis-server --sentinel`.
set -euo pipefail

die() { echo "sentinel.sh: $*" >&2; exit 1; }

cmd=${1:-}
[ -n "$cmd" ] || die "usage: sentinel.sh up|down [options] NAME..."
shift
dir=/tmp/tradestate-sentinel
port=7200
sentinel_port=26400
down_after=5000
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --sentinel-port) sentinel_port=$2; shift 2 ;;
    --down-after) down_after=$2; shift 2 ;;
    -*) die "unknown option $1" ;;
    *) names+=("$1"); shift ;;
  esac
done

# shellcheck source=ops/deploy/common.sh
. "$(dirname "$0")/common.sh"

server() { # name port [replicaof-port]
  local name=$1 p=$2 dir_p="$dir/$1-$2"
  mkdir -p "$dir_p"
  rm -rf "${dir_p:?}"/*
  start_node "$@"
}

start_node() { # name port [replicaof-port]: starts the server on its port and files as they are
  local name=$1 p=$2 dir_p="$dir/$1-$2"
  local args=(--port "$p" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec
    --dir "$dir_p" --enable-debug-command local --daemonize yes
    --pidfile "$dir/$name-$p.pid" --logfile "$dir/$name-$p.log")
  [ $# -ge 3 ] && args+=(--replicaof 127.0.0.1 "$3")
  redis-server "${args[@]}"
  wait_ping "$p"
}

sentinel() { # port
  local p=$1 conf="$dir/sentinel-$1.conf"
  {
    echo "port $p"
    echo "bind 127.0.0.1"
    echo "daemonize yes"
    echo "pidfile $dir/sentinel-$p.pid"
    echo "logfile $dir/sentinel-$p.log"
    echo "dir $dir"
    local i=0
    for name in "${names[@]}"; do
      echo "sentinel monitor $name 127.0.0.1 $((port + 2 * i)) 2"
      echo "sentinel down-after-milliseconds $name $down_after"
      echo "sentinel failover-timeout $name $((down_after * 2 > 5000 ? down_after * 2 : 5000))"
      echo "sentinel parallel-syncs $name 1"
      i=$((i + 1))
    done
  } >"$conf"
  if command -v redis-sentinel >/dev/null; then
    redis-sentinel "$conf"
  else
    redis-server "$conf" --sentinel
  fi
  wait_ping "$p"
}

case "$cmd" in
  down)
    down
    ;;
  restart-node)
    [ ${#names[@]} -eq 1 ] || die "restart-node takes one PORT"
    p=${names[0]}
    found=("$dir"/*-"$p")
    [ -d "${found[0]}" ] || die "no node on port $p under $dir"
    base=$(basename "${found[0]}")
    start_node "${base%-"$p"}" "$p"
    ;;
  up)
    [ ${#names[@]} -gt 0 ] || die "name at least one master (e.g. ris rts rtss)"
    down
    mkdir -p "$dir"
    i=0
    for name in "${names[@]}"; do
      server "$name" $((port + 2 * i))
      server "$name-replica" $((port + 2 * i + 1)) $((port + 2 * i))
      i=$((i + 1))
    done
    for k in 0 1 2; do
      sentinel $((sentinel_port + k))
    done
    # Every sentinel must know every master and its replica before a test relies on failover.
    deadline=$((SECONDS + 30))
    for k in 0 1 2; do
      for name in "${names[@]}"; do
        until [ "$(redis-cli -p $((sentinel_port + k)) sentinel replicas "$name" 2>/dev/null | grep -c '^name$')" -ge 1 ] \
          && [ "$(redis-cli -p $((sentinel_port + k)) sentinel sentinels "$name" 2>/dev/null | grep -c '^name$')" -ge 2 ]; do
          [ $SECONDS -lt $deadline ] || die "sentinel $((sentinel_port + k)) does not see $name's replica and peers after 30 s (logs in $dir)"
          sleep 0.2
        done
      done
    done
    sentinels="127.0.0.1:$sentinel_port,127.0.0.1:$((sentinel_port + 1)),127.0.0.1:$((sentinel_port + 2))"
    for name in "${names[@]}"; do
      echo "$name redis+sentinel://$sentinels/$name"
    done
    ;;
  *)
    die "unknown command $cmd (up or down)"
    ;;
esac
