#!/usr/bin/env bash
# gateway.sh — the highest update rate the Tradestate service sustains with p99 acknowledgement
# under 10 ms, over HTTP and over RESP, beside the rate its own ris engine takes when written
# directly by redis-benchmark, in the same run on the same cores.
#
# Builds the release binaries, starts `tradestate` in dev mode (token tradestate-dev) on free
# loopback ports with per-terminal and global quotas raised out of the way, and runs
# `gateway-bench --find-max` (ops/src/bin/gateway-bench) against it: open-loop, --terminals
# simulated terminals each on its own connection, latency from the intended send time. The rate
# goes up x1.5 while runs pass (p99 <= 10 ms and <= 0.1% of sends not acknowledged), then bisects
# (3 steps); a failing rate is run once more before it counts as failed (shared machines stall).
#   HTTP: POST /v1/ingest, batches of 10 updates (1 heartbeat + 9 position snapshots).
#   RESP: AUTH, then the same mix as HSETs (HSET ris:{<id>} heartbeat + 9 HSET rts:{<id>}:<ticket>)
#         written 10 at a time (--pipeline 10, like one HTTP batch); skipped, with a message,
#         when listen.resp refuses connections.
# Then redis-benchmark writes the embedded ris engine directly (-c 50, -P 1 and -P 16): a
# 23-field HSET ris:{term-<rand>} shaped like the hash the gateway stores for a heartbeat, and
# EXPIRE ris:{term-<rand>} 120 (the gateway's ris policy); "direct updates/s" is the rate of
# HSET+EXPIRE pairs, 1 / (1/hset + 1/expire). Each direct row is the median of --rounds runs.
#
# Usage: ops/bench/gateway.sh [--seconds N] [--rounds R] [--terminals T] [--start-rate R] [--out FILE]
#                             [--backend embedded|redis|sentinel|cluster] [--ack written|replicated]
#   --seconds N     measured seconds of each gateway run and each redis-benchmark run (default 5)
#   --rounds R      redis-benchmark runs per row, median reported (default 3)
#   --terminals T   simulated terminals (default 120)
#   --start-rate R  first rate tried by --find-max, updates/s (default 5000)
#   --out FILE      also write the markdown report to FILE
#   --backend B     embedded (default: the service's engines), redis (one redis-server per
#                   partition, AOF everysec; the direct rows write the ris one), sentinel (ops/deploy/sentinel.sh:
#                   a redis-server master and replica per partition, three sentinels; the direct
#                   rows then write the ris master) or cluster (ops/deploy/cluster.sh: three
#                   masters and three replicas holding all partitions; the direct rows then
#                   write the cluster with redis-benchmark --cluster)
#   --ack A         every partition's `ack` with --backend sentinel or cluster: written (default)
#                   or replicated
# Needs: cargo, python3, redis-cli and redis-benchmark (apt-get install -y redis-tools); redis-server
# for --backend redis, sentinel or cluster.
# With 2+ cores the service (gateway and its embedded engines) runs on core 0 and the load
# generator (gateway-bench, redis-benchmark) on core 1, so both paths get the same CPU.
set -euo pipefail

seconds=5
rounds=3
terminals=120
start_rate=5000
out=""
backend=embedded
ack=written
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=ops/bench/service.sh
. "$root/ops/bench/service.sh"
parse_options gateway.sh '2,37p' --seconds=seconds --rounds=rounds --terminals=terminals \
  --start-rate=start_rate --out=out --backend=backend --ack=ack -- "$@"
case "$backend/$ack" in
  embedded/written|redis/written|sentinel/written|sentinel/replicated|cluster/written|cluster/replicated) ;;
  *) echo "gateway.sh: --backend embedded|redis|sentinel|cluster, --ack written|replicated (replicated needs sentinel or cluster), not $backend/$ack" >&2; exit 2 ;;
esac
need_tools gateway.sh "; install redis-tools (apt-get install -y redis-tools) and python3" \
  redis-benchmark redis-cli cargo python3
build_release "$root" "tradestate and gateway-bench" -p tradestate-gateway -p tradestate-ops
service_bin="$root/target/release/tradestate"
bench_bin="$root/target/release/gateway-bench"
pin_cores "service on core 0, load generators on core 1"

tmp=$(mktemp -d)
cleanup() {
  if [ -n "${service_pid:-}" ]; then kill "$service_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  [ "$backend" != sentinel ] || "$root/ops/deploy/sentinel.sh" down --dir "$tmp/sentinel" || true
  [ "$backend" != cluster ] || "$root/ops/deploy/cluster.sh" down --dir "$tmp/cluster" || true
  for port in ${redis_ports[@]+"${redis_ports[@]}"}; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

tradestate_env=()
if [ "$backend" = sentinel ]; then
  start_sentinel_partitions "$root" "$tmp/sentinel" 5000 "$ack" || exit 1
elif [ "$backend" = cluster ]; then
  start_cluster_partitions "$root" "$tmp/cluster" "$ack" || exit 1
elif [ "$backend" = redis ]; then
  # One redis-server per partition, AOF as the service's own engines keep it.
  redis_ports=()
  tradestate_backend=redis
  for part in ris rts rtss; do
    port=$(free_port)
    mkdir -p "$tmp/redis-$part"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
      --dir "$tmp/redis-$part" --daemonize yes --logfile "$tmp/redis-$part/redis.log"
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis_ports+=("$port")
    tradestate_env+=("TRADESTATE_PARTITIONS_${part^^}_BACKEND=redis://127.0.0.1:$port")
  done
  node_base=${redis_ports[0]}
  echo "redis-server ris/rts/rtss on 127.0.0.1:${redis_ports[*]} (AOF everysec)" >&2
fi
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start_tradestate "$service_bin" "$tmp" "$server_pin" || exit 1
# With Sentinel the direct rows write what the gateway writes: the ris master; with a cluster,
# the whole cluster (redis-benchmark --cluster).
[ "$backend" = embedded ] || ris_port=$node_base
direct_flags=()
[ "$backend" != cluster ] || direct_flags=(--cluster)

# find_max TRANSPORT JSON_OUT -> runs gateway-bench --find-max, table on stderr, summary in JSON_OUT
find_max() {
  local transport="$1" json="$2"
  shift 2
  # shellcheck disable=SC2086
  $client_pin "$bench_bin" --transport "$transport" --url "http://127.0.0.1:$http_port" \
    --resp "127.0.0.1:$resp_port" --terminals "$terminals" --find-max --rate "$start_rate" \
    --seconds "$seconds" --warmup 1 --json "$@" >"$json"
}
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); b=d.get('best') or {}; v=b.get(sys.argv[2]); print('-' if v is None else (f'{v:.0f}' if sys.argv[2].endswith('per_s') else f'{v:.2f}'))" "$1" "$2"; }

echo "== gateway over HTTP: POST /v1/ingest, batches of 10 (1 heartbeat + 9 positions), $terminals terminals" >&2
find_max http "$tmp/http.json"
http_rate=$(field "$tmp/http.json" target_updates_per_s)
http_p99=$(field "$tmp/http.json" p99_ms)

echo "== gateway over RESP: HSETs 10 at a time (1 heartbeat + 9 positions), $terminals terminals" >&2
if port_open "$resp_port"; then
  find_max resp "$tmp/resp.json" --resp-trades --pipeline 10
  resp_rate=$(field "$tmp/resp.json" target_updates_per_s)
  resp_p99=$(field "$tmp/resp.json" p99_ms)
  resp_note=""
else
  echo "gateway.sh: the RESP listener (listen.resp = 127.0.0.1:$resp_port) refuses connections; skipping RESP" >&2
  resp_rate="-"; resp_p99="-"; resp_note=" (skipped: listen.resp refused connections)"
fi

# The hash the gateway stores for a heartbeat: instance_id, received_msc and the 21 fields of
# InstanceState::to_fields() (mt5-bridge/src/fields.rs).
heartbeat=(HSET 'ris:{term-__rand_int__}' instance_id term-7 received_msc 1763000000123
  seq __rand_int__ time_msc 1763000000100 login 51000007 server Broker-Live01 company 'Broker Ltd'
  currency USD leverage 100 balance 10250.75 credit 0 equity 10262.4 profit 11.65 margin 412.3
  margin_free 9850.1 margin_level 2489.1 connected 1 trade_allowed 1 ping_us 2350 build 4755
  positions 9 orders 0 ea_version 1.4.2)
expire=(EXPIRE 'ris:{term-__rand_int__}' 120)
if [ "$backend" = cluster ]; then
  # redis-benchmark --cluster sends each request to the node whose slot `{tag}` names.
  heartbeat[1]='ris:{tag}:term-__rand_int__'
  expire[1]='ris:{tag}:term-__rand_int__'
fi

# direct NAME PIPELINE N -> "rps p99_ms" of one redis-benchmark run against the ris engine
direct() {
  local name="$1" pipe="$2" n="$3" line
  local -n cmd="$name"
  # shellcheck disable=SC2086
  line=$($client_pin redis-benchmark -p "$ris_port" ${direct_flags[@]+"${direct_flags[@]}"} -c 50 -P "$pipe" -n "$n" -r "$terminals" --csv "${cmd[@]}" | tail -n 1)
  echo "$line" | tr -d '"' | awk -F, '{print $2, $7}'
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo "== direct: redis-benchmark -c 50 -r $terminals against the ris partition's $(case "$backend" in embedded) echo "embedded engine" ;; redis) echo "redis-server" ;; sentinel) echo "Sentinel master" ;; *) echo "Redis Cluster (--cluster, seed" ;; esac) (port $ris_port), median of $rounds" >&2
declare -A direct_rps direct_p99 direct_rounds
for pipe in 1 16; do
  for name in heartbeat expire; do
    calib_n=$(( pipe == 1 ? 20000 : 200000 ))
    read -r calib _ < <(direct "$name" "$pipe" "$calib_n")
    n=$(python3 -c "print(max(10000, int(float('$calib') * $seconds)))")
    rs=(); ps=()
    for _ in $(seq 1 "$rounds"); do
      read -r r p < <(direct "$name" "$pipe" "$n")
      rs+=("$r"); ps+=("$p")
    done
    direct_rps[$name$pipe]=$(median "${rs[@]}")
    direct_p99[$name$pipe]=$(median "${ps[@]}")
    direct_rounds[$name$pipe]="${rs[*]}"
    printf '  %-9s -P %-2s n=%-8s %12s req/s  p99 %s ms  (rounds %s)\n' "$name" "$pipe" "$n" "${direct_rps[$name$pipe]}" "${direct_p99[$name$pipe]}" "${rs[*]}" >&2
  done
done
pair() { python3 -c "print(f'{1 / (1 / float(\"$1\") + 1 / float(\"$2\")):.0f}')"; }
direct1=$(pair "${direct_rps[heartbeat1]}" "${direct_rps[expire1]}")
direct16=$(pair "${direct_rps[heartbeat16]}" "${direct_rps[expire16]}")
ratio() { if [ "$1" = "-" ]; then echo "-"; else python3 -c "print(f'{float(\"$1\") / float(\"$2\"):.2f}')"; fi; }
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

{
  echo "Run on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, tradestate $(git_rev "$root"), backend $backend, ack $ack; $pinning; load average before $load_before, after $load_after."
  echo "Gateway: \`gateway-bench --find-max --rate $start_rate --seconds $seconds --warmup 1 --terminals $terminals\` (open loop, latency from the intended send time, pass = p99 <= 10 ms and <= 0.1% not acknowledged, a failed rate retried once). Direct: \`redis-benchmark -c 50 -r $terminals -P <P>\` against the ris partition (the service's embedded engine, or with Sentinel its master, which the service does not pin), median of $rounds runs of ~${seconds} s."
  echo
  md_table "| path | what one update is | updates/s | p99 ms | gateway / direct -P 16 | gateway / direct -P 1 |" \
    "| gateway HTTP | 1/10 of a \`POST /v1/ingest\` batch (1 heartbeat + 9 positions) | $http_rate | $http_p99 | $(ratio "$http_rate" "$direct16") | $(ratio "$http_rate" "$direct1") |" \
    "| gateway RESP | one of 10 pipelined \`HSET\`s (1 heartbeat + 9 positions)$resp_note | $resp_rate | $resp_p99 | $(ratio "$resp_rate" "$direct16") | $(ratio "$resp_rate" "$direct1") |" \
    "| direct -P 16 | \`HSET\` (23 fields) + \`EXPIRE\` pair | $direct16 | | | |" \
    "| direct -P 1 | \`HSET\` (23 fields) + \`EXPIRE\` pair | $direct1 | | | |"
  echo
  rows=()
  for pipe in 1 16; do
    for name in heartbeat expire; do
      rows+=("| $name | $pipe | ${direct_rps[$name$pipe]} | ${direct_p99[$name$pipe]} | ${direct_rounds[$name$pipe]} |")
    done
  done
  md_table "| redis-benchmark row | P | req/s (median) | p99 ms | rounds |" "${rows[@]}"
} | tee "${out:-/dev/null}"
