# service.sh — sourced by the bench scripts: `tradestate` started in dev mode on free loopback
# ports with quotas raised out of the way (the benches measure the service, not its quotas).
# Needs: python3.
# shellcheck shell=bash

# free_port, port_open and the other helpers every bench shares.
# shellcheck source=ops/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Optional settings, read by every start (set them before start_tradestate / launch_tradestate):
#   tradestate_env      array of further NAME=value environment settings for the service, e.g.
#                       (TRADESTATE_PARTITIONS_RTS_ENGINE_ENABLE_DEBUG_COMMAND=local)
#   tradestate_backend  "embedded" (default): the partitions are the service's embedded engines
#                       on $ris_port/$rts_port/$rtss_port; "redis": they are
#                       redis://127.0.0.1:<those ports>, servers the caller runs
#   tradestate_wait_s   how long a start waits for the service to answer (default 10)

# pick_tradestate_ports: sets http_port resp_port ris_port rts_port rtss_port to free loopback ports.
pick_tradestate_ports() {
  http_port=$(free_port); resp_port=$(free_port)
  ris_port=$(free_port); rts_port=$(free_port); rtss_port=$(free_port)
}

# start_tradestate BIN WORKDIR PIN: picks http_port resp_port ris_port rts_port rtss_port, starts
# BIN (prefixed by PIN, e.g. "taskset -c 0", or "") in WORKDIR with its data in WORKDIR/data and
# its log in WORKDIR/service.log, sets service_pid, and waits until HTTP and the engines answer.
# Returns 1 (after printing the log) when it does not come up.
start_tradestate() {
  pick_tradestate_ports
  : >"$2/service.log"
  launch_tradestate "$@"
}

# launch_tradestate BIN WORKDIR PIN: start_tradestate on the ports already chosen, appending to
# WORKDIR/service.log: after a crash, the same service again on the same ports and data.
launch_tradestate() {
  local bin=$1 workdir=$2 pin=$3 backend=${tradestate_backend:-embedded} i
  if [ "$backend" = redis ]; then
    echo "starting tradestate (http $http_port, resp $resp_port, partitions redis://127.0.0.1:$ris_port/$rts_port/$rtss_port)..." >&2
  else
    echo "starting tradestate (http $http_port, resp $resp_port, engines $ris_port/$rts_port/$rtss_port)..." >&2
  fi
  # shellcheck disable=SC2086 # $pin is a command prefix or empty
  (cd "$workdir" || exit 1
    export TRADESTATE_LOG=warn \
      TRADESTATE_DATA_DIR="$workdir/data" \
      TRADESTATE_LISTEN_HTTP="127.0.0.1:$http_port" \
      TRADESTATE_LISTEN_RESP="127.0.0.1:$resp_port" \
      TRADESTATE_LIMITS_PER_TERMINAL_RATE=1000000 \
      TRADESTATE_LIMITS_PER_TERMINAL_BURST=1000000 \
      TRADESTATE_LIMITS_GLOBAL_RATE=100000000
    if [ "$backend" = redis ]; then
      export TRADESTATE_PARTITIONS_RIS_BACKEND="redis://127.0.0.1:$ris_port" \
        TRADESTATE_PARTITIONS_RTS_BACKEND="redis://127.0.0.1:$rts_port" \
        TRADESTATE_PARTITIONS_RTSS_BACKEND="redis://127.0.0.1:$rtss_port"
    else
      export TRADESTATE_PARTITIONS_RIS_EMBEDDED_PORT="$ris_port" \
        TRADESTATE_PARTITIONS_RTS_EMBEDDED_PORT="$rts_port" \
        TRADESTATE_PARTITIONS_RTSS_EMBEDDED_PORT="$rtss_port"
    fi
    # shellcheck disable=SC2154 # set by the caller, or not at all
    for setting in ${tradestate_env[@]+"${tradestate_env[@]}"}; do export "${setting?}"; done
    exec $pin "$bin" >>"$workdir/service.log" 2>&1) &
  service_pid=$!
  # Redis backends are the caller's to run; embedded engines are the service's to wait for.
  for ((i = 0; i < ${tradestate_wait_s:-10} * 10; i++)); do
    if port_open "$http_port"; then
      [ "$backend" = redis ] && break
      port_open "$ris_port" && port_open "$rtss_port" && break
    fi
    kill -0 "$service_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! port_open "$http_port"; then
    echo "tradestate did not start; its log:" >&2
    cat "$workdir/service.log" >&2
    return 1
  fi
}

# free_port_run START N [ALSO]: the first base port from START with N free loopback ports in a
# row (and, with ALSO, the N from base + ALSO too).
free_port_run() {
  python3 - "$@" <<'PY'
import socket, sys
start, n = int(sys.argv[1]), int(sys.argv[2])
also = int(sys.argv[3]) if len(sys.argv) > 3 else None
for base in range(start, 60000 - n, 97):
    ports = list(range(base, base + n))
    if also is not None:
        ports += [p + also for p in ports]
    socks = []
    try:
        for p in ports:
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
        print(base)
        break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
PY
}

# start_sentinel_partitions ROOT DIR DOWN_AFTER_MS ACK: ops/deploy/sentinel.sh's deployment (a master
# and a replica per partition, three sentinels) on runs of free loopback ports, files in DIR; sets
# part_url (partition -> redis+sentinel:// URL), node_base and sentinel_base (the first ports),
# and tradestate_backend / tradestate_env so the next start points every partition at its URL
# with `ack = ACK`. The caller stops it with `ops/deploy/sentinel.sh down --dir DIR`.
start_sentinel_partitions() {
  local root=$1 dir=$2 down_after=$3 ack=$4 part url
  node_base=$(free_port_run 21000 6)
  sentinel_base=$(free_port_run 31000 3)
  declare -gA part_url=()
  while read -r part url; do part_url[$part]=$url; done < <("$root/ops/deploy/sentinel.sh" up \
    --dir "$dir" --port "$node_base" --sentinel-port "$sentinel_base" --down-after "$down_after" ris rts rtss)
  if [ -z "${part_url[ris]:-}" ]; then
    echo "the Sentinel deployment did not start (logs in $dir)" >&2
    return 1
  fi
  echo "Sentinel: masters and replicas on 127.0.0.1:$node_base-$((node_base + 5)), sentinels on $sentinel_base-$((sentinel_base + 2)), in $dir" >&2
  # launch_tradestate's "redis" mode waits for HTTP only; the backends are the URLs.
  tradestate_backend=redis
  for part in ris rts rtss; do
    tradestate_env+=("TRADESTATE_PARTITIONS_${part^^}_BACKEND=${part_url[$part]}")
    [ "$ack" = written ] || tradestate_env+=("TRADESTATE_PARTITIONS_${part^^}_ACK=$ack")
  done
}

# start_cluster_partitions ROOT DIR ACK: ops/deploy/cluster.sh's Redis Cluster (three masters and
# three replicas, AOF on) on a run of free loopback ports (and their bus ports, +10000), files in
# DIR; every partition on it. Sets part_url, node_base, and tradestate_backend / tradestate_env
# so the next start points every partition at it with `ack = ACK`. The caller stops it with
# `ops/deploy/cluster.sh down --dir DIR`.
start_cluster_partitions() {
  local root=$1 dir=$2 ack=$3 part url
  # The cluster bus listens on each node's port + 10000.
  node_base=$(free_port_run 22000 6 10000)
  url=$("$root/ops/deploy/cluster.sh" up --dir "$dir" --port "$node_base") || {
    echo "the Redis Cluster did not start (logs in $dir)" >&2
    return 1
  }
  declare -gA part_url=([ris]=$url [rts]=$url [rtss]=$url)
  echo "Redis Cluster: masters on 127.0.0.1:$node_base-$((node_base + 2)), replicas on $((node_base + 3))-$((node_base + 5)), in $dir" >&2
  tradestate_backend=redis
  for part in ris rts rtss; do
    tradestate_env+=("TRADESTATE_PARTITIONS_${part^^}_BACKEND=$url")
    [ "$ack" = written ] || tradestate_env+=("TRADESTATE_PARTITIONS_${part^^}_ACK=$ack")
  done
}
