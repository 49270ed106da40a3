#!/usr/bin/env bash
# chaos.sh — does the Tradestate service keep everything it acknowledged while things break?
#
# Builds the release binaries, starts `tradestate` in dev mode on free loopback ports (quotas
# raised out of the way, as the other benches; ops/bench/service.sh), runs `loadgen` against it
# and, on a schedule counted from loadgen's start, breaks things:
#   --kill-at     kill -9 the service and restart it at once (same ports, same data directory);
#   --outage      take one partition away: kill -9 its redis-server and restart it later (same
#                 port and directory), or block its engine with DEBUG SLEEP; with Sentinel, kill -9
#                 its master (the sentinels promote the replica) or ask for a planned failover;
#   --kill-gateway-during-outage  also kill -9 + restart the service halfway through the outage;
#   --gateways 2  a second gateway on the same backends, the terminals split between the two
#                 and moving to the other one whenever a connection fails or they reconnect
#                 (--kill-at and the outage kills act on the first gateway).
# Then loadgen reads every partition back: `acked=N verified=N lost=0 duplicates=0 stale=0`.
# While it runs, GET /readyz is polled once a second (readyz.jsonl) for the spill log's size.
# At the end: loadgen's verification and exit code, its resends (429/503/TRYAGAIN, no answer),
# ack p99 over the outage, the spill's peak and how long it took to drain once the partition was
# back, and the count of WARN/ERROR lines in the service log. Exits with loadgen's status (124:
# loadgen did not finish within its bound), 2 on bad arguments, 1 when the run cannot be made.
#
# Usage: ops/bench/chaos.sh [options]
#   --terminals N        simulated terminals (default 1000)
#   --duration S         seconds loadgen sends (default 60)
#   --transport T        mixed, http or resp (default mixed)
#   --seed N             loadgen's seed (default: loadgen's)
#   --kill-at T1,T2,...  seconds after loadgen starts to kill -9 + restart the service
#   --backend B          embedded (the service's engines), redis (three redis-server
#                        processes: AOF on, appendfsync everysec, DEBUG allowed from loopback) or
#                        sentinel (ops/deploy/sentinel.sh: per partition a master and a replica
#                        with AOF, three sentinels, down-after 2 s) or cluster (ops/deploy/cluster.sh:
#                        three masters and three replicas with AOF, all partitions on it)
#                        (default embedded)
#   --ack A              written or replicated (every partition's `ack`; replicated needs
#                        --backend sentinel or cluster) (default written)
#   --outage PART        ris, rts or rtss: the partition to take away (default: none)
#   --outage-at S        seconds after loadgen starts (default 45)
#   --outage-for S       seconds (default 30)
#   --outage-kind K      kill (redis backend: kill -9 its redis-server, restart after
#                        --outage-for; sentinel: kill -9 its master, restart that node after
#                        --outage-for, as a replica), sleep (DEBUG SLEEP <outage-for> on its
#                        port), failover (sentinel: SENTINEL FAILOVER) or reshard (cluster:
#                        `redis-cli --cluster reshard` moves half of the first master's slots to
#                        the second, then --outage-for later half of those back (a master left
#                        without slots would turn replica); PART is then
#                        only a label, the three partitions share the cluster)
#                        (default kill with --backend redis or sentinel, sleep with embedded)
#   --kill-gateway-during-outage   kill -9 + restart the service at outage-at + outage-for/2
#   --gateways N         1 (default) or 2 (needs --backend redis, sentinel or cluster)
#   --drain-timeout S    loadgen's bound on the wait for the spill to drain (default: loadgen's, 60)
#   --reconnect-every D  passed to loadgen: mean time between a terminal's reconnects (e.g. 10s)
#   --restart-every D    passed to loadgen: mean time between a terminal's restarts (e.g. 15s)
#   --restart-seq M      passed to loadgen: zero (a restart numbers below what the gateway holds,
#                        as a reinstall with its files lost) or clock
#   --no-build           use target/release/{tradestate,loadgen} as they are
#   --keep-data          keep the data directories (deleted at the end otherwise; the logs,
#                        report and readyz samples are always kept)
# Everything listens on and talks to 127.0.0.1. Files go to a fresh temp dir, printed at the
# start and the end: loadgen.out (its table), loadgen.err, report.json, chart.html, events.log
# (what was broken when), readyz.jsonl (one /readyz a second), metrics.txt (/metrics at the
# end), service.log, redis-<partition>/redis.log. The run takes at most about duration + 110 s
# (plus the build): loadgen is stopped at duration + drain-timeout + 45 s.
# Example: ops/bench/chaos.sh --backend redis --outage rts --kill-gateway-during-outage
# Needs: cargo, python3; redis-cli for --outage-kind sleep; redis-server for --backend redis.
set -euo pipefail

terminals=1000
gateways=1
duration=60
transport=mixed
seed=""
kill_at=""
backend=embedded
ack=written
outage=""
outage_at=45
outage_for=30
outage_kind=""
kill_gateway_during_outage=0
drain_timeout=""
terminal_args=()
build=1
keep_data=0

die() { echo "chaos.sh: $*" >&2; exit 2; }
need_value() { if [ $# -lt 2 ] || [[ $2 == --* ]]; then die "$1 needs a value (see --help)"; fi; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
is_seconds() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }

while [ $# -gt 0 ]; do
  case "$1" in
    --terminals) need_value "$@"; terminals="$2"; shift 2 ;;
    --duration) need_value "$@"; duration="$2"; shift 2 ;;
    --transport) need_value "$@"; transport="$2"; shift 2 ;;
    --seed) need_value "$@"; seed="$2"; shift 2 ;;
    --kill-at) need_value "$@"; kill_at="$2"; shift 2 ;;
    --backend) need_value "$@"; backend="$2"; shift 2 ;;
    --ack) need_value "$@"; ack="$2"; shift 2 ;;
    --outage) need_value "$@"; outage="$2"; shift 2 ;;
    --outage-at) need_value "$@"; outage_at="$2"; shift 2 ;;
    --outage-for) need_value "$@"; outage_for="$2"; shift 2 ;;
    --outage-kind) need_value "$@"; outage_kind="$2"; shift 2 ;;
    --kill-gateway-during-outage) kill_gateway_during_outage=1; shift ;;
    --gateways) need_value "$@"; gateways="$2"; shift 2 ;;
    --drain-timeout) need_value "$@"; drain_timeout="$2"; shift 2 ;;
    --reconnect-every|--restart-every|--restart-seq) need_value "$@"; terminal_args+=("$1" "$2"); shift 2 ;;
    --no-build) build=0; shift ;;
    --keep-data) keep_data=1; shift ;;
    -h|--help) sed -n '2,/^# Needs/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

if ! is_uint "$terminals" || [ "$terminals" -eq 0 ]; then die "--terminals: a positive whole number, not '$terminals'"; fi
if ! is_uint "$duration" || [ "$duration" -eq 0 ]; then die "--duration: whole seconds > 0, not '$duration'"; fi
case "$transport" in mixed|http|resp) ;; *) die "--transport: mixed, http or resp, not '$transport'" ;; esac
[ -z "$seed" ] || is_uint "$seed" || die "--seed: a whole number, not '$seed'"
case "$backend" in embedded|redis|sentinel|cluster) ;; *) die "--backend: embedded, redis, sentinel or cluster, not '$backend'" ;; esac
case "$gateways" in
  1) ;;
  2) [ "$backend" != embedded ] || die "--gateways 2 needs backends both share: --backend redis, sentinel or cluster" ;;
  *) die "--gateways: 1 or 2, not '$gateways'" ;;
esac
case "$ack" in
  written) ;;
  replicated) [ "$backend" = sentinel ] || [ "$backend" = cluster ] || die "--ack replicated needs replicas: --backend sentinel or cluster" ;;
  *) die "--ack: written or replicated, not '$ack'" ;;
esac
[ -z "$drain_timeout" ] || is_uint "$drain_timeout" || die "--drain-timeout: whole seconds, not '$drain_timeout'"
kill_times=()
if [ -n "$kill_at" ]; then
  IFS=, read -r -a kill_times <<<"$kill_at"
  for t in "${kill_times[@]}"; do
    is_seconds "$t" || die "--kill-at: comma-separated seconds (e.g. 10,25.5), not '$kill_at'"
  done
fi
if [ -n "$outage" ]; then
  case "$outage" in ris|rts|rtss) ;; *) die "--outage: ris, rts or rtss, not '$outage'" ;; esac
  is_seconds "$outage_at" || die "--outage-at: seconds, not '$outage_at'"
  if ! is_uint "$outage_for" || [ "$outage_for" -eq 0 ]; then die "--outage-for: whole seconds > 0, not '$outage_for'"; fi
  if [ -z "$outage_kind" ]; then
    case "$backend" in embedded) outage_kind="sleep" ;; cluster) outage_kind="reshard" ;; *) outage_kind="kill" ;; esac
  fi
  case "$outage_kind" in
    kill) [ "$backend" = redis ] || [ "$backend" = sentinel ] || die "--outage-kind kill needs --backend redis or sentinel (an embedded engine lives in the service's process; use sleep)" ;;
    failover) [ "$backend" = sentinel ] || die "--outage-kind failover needs --backend sentinel" ;;
    reshard) [ "$backend" = cluster ] || die "--outage-kind reshard needs --backend cluster" ;;
    sleep) [ "$backend" != cluster ] || die "--outage-kind sleep would stall one node of the cluster; use reshard" ;;
    *) die "--outage-kind: kill, sleep, failover or reshard, not '$outage_kind'" ;;
  esac
else
  [ -z "$outage_kind" ] || die "--outage-kind without --outage"
  [ "$kill_gateway_during_outage" = 0 ] || die "--kill-gateway-during-outage without --outage"
fi

tools=(python3)
[ "$build" = 1 ] && tools+=(cargo)
[ "$backend" != embedded ] && tools+=(redis-server redis-cli)
[ "$outage_kind" = sleep ] && tools+=(redis-cli)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || die "'$tool' not found (redis-server, redis-cli: apt-get install -y redis-server redis-tools)"
done

root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=ops/bench/service.sh
. "$root/ops/bench/service.sh"
if [ "$build" = 1 ]; then
  echo "building tradestate and loadgen (release)..." >&2
  cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin tradestate --bin loadgen
fi
service_bin="$root/target/release/tradestate"
loadgen_bin="$root/target/release/loadgen"
for bin in "$service_bin" "$loadgen_bin"; do
  [ -x "$bin" ] || { echo "chaos.sh: $bin not built (drop --no-build)" >&2; exit 1; }
done
# Everything below talks to 127.0.0.1 only: no proxy for loadgen's, the poller's or our requests.
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY
loadgen_help=$("$loadgen_bin" --help)
if [ -n "$drain_timeout" ] && ! grep -q -- '--drain-timeout' <<<"$loadgen_help"; then
  echo "chaos.sh: this loadgen has no --drain-timeout (built before the spill log?)" >&2; exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tradestate-chaos.XXXXXX")
echo "chaos: files in $tmp" >&2
events="$tmp/events.log"
: >"$events"

# --- processes, and how they all end ------------------------------------------------------------
declare -A redis_pid=()
loadgen_pid=""
poller_pid=""
sleeper_pids=()
service_pid=""
second_pid=""
expect_service_down=0

# stop_pid PID: SIGTERM, up to 3 s, then SIGKILL; reaps it.
stop_pid() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 30; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local pid part
  trap - EXIT INT TERM
  [ -z "$loadgen_pid" ] || stop_pid "$loadgen_pid"
  [ -z "$poller_pid" ] || stop_pid "$poller_pid"
  for pid in ${sleeper_pids[@]+"${sleeper_pids[@]}"}; do stop_pid "$pid"; done
  [ -z "$service_pid" ] || stop_pid "$service_pid"
  [ -z "$second_pid" ] || stop_pid "$second_pid"
  for part in "${!redis_pid[@]}"; do stop_pid "${redis_pid[$part]}"; done
  [ "$backend" != sentinel ] || "$root/ops/deploy/sentinel.sh" down --dir "$tmp/sentinel" || true
  [ "$backend" != cluster ] || "$root/ops/deploy/cluster.sh" down --dir "$tmp/cluster" || true
  if [ "$keep_data" = 0 ]; then
    rm -rf "$tmp/data" "$tmp"/redis-*/appendonlydir "$tmp"/redis-*/dump.rdb
  fi
  echo "chaos: files in $tmp" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- time, relative to loadgen's start ----------------------------------------------------------
now_us() { local t=${EPOCHREALTIME//[.,]/}; echo "$t"; }
t0_us=$(now_us)
rel_us() { echo $(($(now_us) - t0_us)); }
fmt_s() { printf '%d.%02d' $(($1 / 1000000)) $(($1 / 10000 % 100)); }
# event TEXT: a progress line, also kept in events.log as "<seconds><TAB>TEXT".
event() {
  local t
  t=$(fmt_s "$(rel_us)")
  printf '%s\t%s\n' "$t" "$*" >>"$events"
  echo "[chaos $(printf '%7s' "$t")s] $*" >&2
}

# --- the partitions -----------------------------------------------------------------------------
pick_tradestate_ports
declare -A part_port=([ris]=$ris_port [rts]=$rts_port [rtss]=$rtss_port)

# start_redis PART: a redis-server for PART on its port, data in $tmp/redis-PART; waits for PONG.
start_redis() {
  local part=$1 port=${part_port[$1]} dir="$tmp/redis-$1" i reply=""
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes \
    --appendfsync everysec --save "" --enable-debug-command local --daemonize no \
    --logfile "$dir/redis.log" &
  redis_pid[$part]=$!
  for ((i = 0; i < 300; i++)); do
    reply=$(redis-cli -p "$port" ping 2>/dev/null || true)
    [ "$reply" = PONG ] && return 0
    kill -0 "${redis_pid[$part]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "chaos.sh: redis-server for $part (port $port) did not answer PING (last: ${reply:-nothing}); its log:" >&2
  tail -n 20 "$dir/redis.log" >&2 || true
  return 1
}

tradestate_backend=$backend
tradestate_env=()
tradestate_wait_s=30
declare -A part_url=([ris]="redis://127.0.0.1:$ris_port" [rts]="redis://127.0.0.1:$rts_port" [rtss]="redis://127.0.0.1:$rtss_port")
if [ "$backend" = redis ]; then
  for part in ris rts rtss; do start_redis "$part" || exit 1; done
  echo "redis-server ris/rts/rtss on 127.0.0.1:$ris_port/$rts_port/$rtss_port (AOF everysec) in $tmp/redis-*" >&2
elif [ "$backend" = sentinel ]; then
  start_sentinel_partitions "$root" "$tmp/sentinel" 2000 "$ack" || exit 1
elif [ "$backend" = cluster ]; then
  start_cluster_partitions "$root" "$tmp/cluster" "$ack" || exit 1
elif [ "$outage_kind" = sleep ]; then
  tradestate_env+=("TRADESTATE_PARTITIONS_${outage^^}_ENGINE_ENABLE_DEBUG_COMMAND=local")
fi

# http_ok: GET /healthz answers 200 within 1 s.
http_ok() {
  python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
    "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1
}

# service_up: launch_tradestate, then wait (up to 30 s) for /healthz.
service_up() {
  local i
  launch_tradestate "$service_bin" "$tmp" "" || return 1
  for ((i = 0; i < 150; i++)); do
    http_ok && return 0
    kill -0 "$service_pid" 2>/dev/null || break
    sleep 0.2
  done
  echo "chaos.sh: tradestate does not answer GET /healthz; the end of its log:" >&2
  tail -n 30 "$tmp/service.log" >&2
  return 1
}

: >"$tmp/service.log"
service_up || exit 1
http_urls="http://127.0.0.1:$http_port"
resp_addrs="127.0.0.1:$resp_port"
if [ "$gateways" = 2 ]; then
  # The second gateway: its own ports, data directory and log, the same backends.
  mkdir -p "$tmp/second"
  : >"$tmp/second/service.log"
  first_ports=("$http_port" "$resp_port" "$service_pid")
  http_port=$(free_port); resp_port=$(free_port)
  launch_tradestate "$service_bin" "$tmp/second" "" || exit 1
  second_pid=$service_pid
  http_urls+=",http://127.0.0.1:$http_port"
  resp_addrs+=",127.0.0.1:$resp_port"
  echo "second gateway: http $http_port, resp $resp_port (pid $second_pid), log in $tmp/second/service.log" >&2
  http_port=${first_ports[0]}; resp_port=${first_ports[1]}; service_pid=${first_ports[2]}
fi

# --- the schedule -------------------------------------------------------------------------------
schedule=()   # "<due µs> <action> <arg>", sorted below
for t in ${kill_times[@]+"${kill_times[@]}"}; do
  schedule+=("$(python3 -c 'import sys; print(round(float(sys.argv[1]) * 1e6))' "$t") kill-gateway -")
done
if [ -n "$outage" ]; then
  at_us=$(python3 -c 'import sys; print(round(float(sys.argv[1]) * 1e6))' "$outage_at")
  for_us=$((outage_for * 1000000))
  schedule+=("$at_us outage-start $outage")
  case "$outage_kind" in kill|reshard) schedule+=("$((at_us + for_us)) outage-end $outage") ;; esac
  [ "$kill_gateway_during_outage" = 1 ] && schedule+=("$((at_us + for_us / 2)) kill-gateway during-outage")
fi
mapfile -t schedule < <(printf '%s\n' ${schedule[@]+"${schedule[@]}"} | sed '/^$/d' | sort -n -k1,1)
last_send_us=$(((duration + 15) * 1000000))   # loadgen resends for at most 15 s after its last send
for entry in ${schedule[@]+"${schedule[@]}"}; do
  read -r due action _ <<<"$entry"
  [ "$due" -le "$last_send_us" ] || echo "chaos.sh: warning: $action at $(fmt_s "$due") s is after loadgen's last resend ($((duration + 15)) s): loadgen may be done by then" >&2
done

restart_gateway() {
  expect_service_down=1
  event "kill -9 tradestate (pid $service_pid)$1"
  kill -9 "$service_pid" 2>/dev/null || true
  wait "$service_pid" 2>/dev/null || true
  echo "=== chaos.sh: kill -9 at t=$(fmt_s "$(rel_us)") s, restarting ===" >>"$tmp/service.log"
  service_up || { event "tradestate did not come back: stopping the run"; exit 1; }
  expect_service_down=0
  event "tradestate answers again (pid $service_pid)"
}

# sleep_partition SECONDS: DEBUG SLEEP on the outage partition's port, in the background; when it
# returns, "partition back" goes to events.log and the time to $tmp/outage_back.
sleep_partition() {
  local secs=$1 port=${part_port[$outage]}
  event "DEBUG SLEEP $secs on $outage (port $port)"
  (
    reply=$(redis-cli -p "$port" DEBUG SLEEP "$secs" 2>&1 || true)
    t=$(fmt_s "$(rel_us)")
    printf '%s\t%s\n' "$t" "DEBUG SLEEP on $outage returned: $reply" >>"$events"
    echo "$t" >>"$tmp/outage_back"
    echo "[chaos $(printf '%7s' "$t")s] $outage: DEBUG SLEEP returned ($reply)" >&2
  ) &
  sleeper_pids+=($!)
}

# Sentinel: the port of PART's master now, as the first sentinel says.
master_port() {
  redis-cli -p "$sentinel_base" SENTINEL GET-MASTER-ADDR-BY-NAME "$1" 2>/dev/null | sed -n 2p
}

# watch_promotion PART OLD_PORT: in the background, waits (at most 60 s) for the sentinels to name
# another master of PART; that time goes to events.log and $tmp/outage_back.
watch_promotion() {
  local part=$1 old=$2
  (
    for ((i = 0; i < 600; i++)); do
      now=$(master_port "$part")
      if [ -n "$now" ] && [ "$now" != "$old" ]; then
        t=$(fmt_s "$(rel_us)")
        printf '%s\t%s\n' "$t" "sentinels promoted port $now as $part's master (was $old)" >>"$events"
        echo "$t" >>"$tmp/outage_back"
        echo "[chaos $(printf '%7s' "$t")s] $part: new master on port $now (was $old)" >&2
        exit 0
      fi
      sleep 0.1
    done
    printf '%s\t%s\n' "$(fmt_s "$(rel_us)")" "no new master of $part within 60 s" >>"$events"
  ) &
  sleeper_pids+=($!)
}

# reshard FROM TO SLOTS: in the background, `redis-cli --cluster reshard` moves SLOTS slots (keys
# and all) from the master on port FROM to the one on TO while loadgen writes; its end goes to
# events.log and $tmp/outage_back.
reshard() {
  local from=$1 to=$2 slots=$3
  event "redis-cli --cluster reshard: $slots slots from port $from to $to"
  (
    if out=$("$root/ops/deploy/cluster.sh" reshard --dir "$tmp/cluster" --port "$node_base" \
      --slots "$slots" "$from" "$to" 2>&1); then
      what="reshard done: $out"
    else
      what="reshard FAILED (see $tmp/cluster/reshard.log): $(tail -n 1 <<<"$out" | tr -cd '[:print:]')"
    fi
    t=$(fmt_s "$(rel_us)")
    printf '%s\t%s\n' "$t" "$what" >>"$events"
    echo "$t" >>"$tmp/outage_back"
    echo "[chaos $(printf '%7s' "$t")s] $what" >&2
  ) &
  sleeper_pids+=($!)
}

killed_port=""
outage_end_us=0
[ -z "$outage" ] || outage_end_us=$((at_us + for_us))

act() {
  local action=$1 arg=$2 left_us pid
  case "$action" in
    kill-gateway)
      if [ "$arg" = during-outage ]; then restart_gateway " halfway through the $outage outage"; else restart_gateway ""; fi
      # The service's embedded engines restart with it and do not sleep any more: sleep again
      # for what is left of the outage.
      if [ "$backend" = embedded ] && [ "$outage_kind" = sleep ] && [ -n "$outage" ]; then
        left_us=$((outage_end_us - $(rel_us)))
        if [ "$(rel_us)" -gt "$at_us" ] && [ "$left_us" -gt 500000 ]; then
          sleep_partition "$(fmt_s "$left_us")"
        fi
      fi
      ;;
    outage-start)
      if [ "$backend" = cluster ]; then
        reshard "$node_base" "$((node_base + 1))" 2730
        return
      fi
      if [ "$backend" = sentinel ]; then
        killed_port=$(master_port "$arg")
        [ -n "$killed_port" ] || { event "no master of $arg known to the sentinels: stopping the run"; exit 1; }
        if [ "$outage_kind" = failover ]; then
          event "SENTINEL FAILOVER $arg (master on port $killed_port)"
          redis-cli -p "$sentinel_base" SENTINEL FAILOVER "$arg" >/dev/null
        else
          pid=$(cat "$tmp"/sentinel/*-"$killed_port".pid)
          event "kill -9 the master of $arg (pid $pid, port $killed_port)"
          kill -9 "$pid" 2>/dev/null || true
        fi
        watch_promotion "$arg" "$killed_port"
      elif [ "$outage_kind" = kill ]; then
        event "kill -9 redis-server of $arg (pid ${redis_pid[$arg]}, port ${part_port[$arg]})"
        kill -9 "${redis_pid[$arg]}" 2>/dev/null || true
        wait "${redis_pid[$arg]}" 2>/dev/null || true
      else
        sleep_partition "$outage_for"
      fi
      ;;
    outage-end)
      if [ "$backend" = cluster ]; then
        reshard "$((node_base + 1))" "$node_base" 1365
        return
      fi
      if [ "$backend" = sentinel ]; then
        event "restarting the killed node of $arg (port $killed_port): the sentinels make it a replica"
        "$root/ops/deploy/sentinel.sh" restart-node --dir "$tmp/sentinel" "$killed_port" >/dev/null \
          || event "the killed node of $arg did not come back"
        return
      fi
      event "restarting redis-server of $arg (port ${part_port[$arg]}, same directory)"
      start_redis "$arg" || { event "redis-server of $arg did not come back: stopping the run"; exit 1; }
      { fmt_s "$(rel_us)"; echo; } >>"$tmp/outage_back"
      event "$arg answers PING again (pid ${redis_pid[$arg]})"
      ;;
  esac
}

# --- the run ------------------------------------------------------------------------------------
loadgen_args=(--http "$http_urls" --resp "$resp_addrs"
  --ris-url "${part_url[ris]}" --rts-url "${part_url[rts]}" --rtss-url "${part_url[rtss]}"
  --terminals "$terminals" --transport "$transport" --duration "${duration}s"
  --report "$tmp/report.json" --chart "$tmp/chart.html")
[ -z "$seed" ] || loadgen_args+=(--seed "$seed")
[ -z "$drain_timeout" ] || loadgen_args+=(--drain-timeout "${drain_timeout}s")
loadgen_args+=(${terminal_args[@]+"${terminal_args[@]}"})
# Latency while the partition is out, against the same run's seconds before it (after the
# terminals' first attach, which sends every full state at once).
if [ -n "$outage" ]; then
  read -r before_window outage_window < <(python3 -c 'import sys
a, f = float(sys.argv[1]), float(sys.argv[2])
print((f"10s,{a:g}s" if a > 12 else "-"), f"{a:g}s,{a + f:g}s")' "$outage_at" "$outage_for")
  [ "$before_window" = - ] || loadgen_args+=(--window "$before_window")
  loadgen_args+=(--window "$outage_window")
fi
# Sends, resends (15 s), the wait for the spill (--drain-timeout, 60 s by default), the read-back.
loadgen_limit=$((duration + ${drain_timeout:-60} + 45))

readyz_poller=$(cat <<'PY'
import json, sys, time, urllib.request, urllib.error
url, t0, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
once = len(sys.argv) > 4   # one last poll, after loadgen
with open(out, "a", buffering=1) as f:
    while True:
        started = time.time()
        rec = {"t": round(started - t0, 2)}
        try:
            try:
                resp = urllib.request.urlopen(url, timeout=4)
                code, body = resp.status, resp.read()
            except urllib.error.HTTPError as e:
                code, body = e.code, e.read()
            rec["code"] = code
            d = json.loads(body)
            rec["ready"] = d.get("ready")
            rec["spilling"] = d.get("spilling")
            rec["partitions"] = {
                name: {k: p.get(k) for k in ("status", "spill") if k in p}
                for name, p in (d.get("partitions") or {}).items()
            }
        except Exception as e:
            rec["error"] = f"{type(e).__name__}: {e}"[:200]
        rec["ms"] = round((time.time() - started) * 1000, 1)
        if once:
            rec["final"] = True
        f.write(json.dumps(rec) + "\n")
        if once:
            break
        time.sleep(max(0.0, 1.0 - (time.time() - started)))
PY
)

echo "== chaos: $terminals terminals ($transport) for ${duration}s, backend $backend, ack $ack, $gateways gateway(s)${seed:+, seed $seed}" >&2
[ ${#kill_times[@]} -eq 0 ] || echo "   kill -9 + restart tradestate at ${kill_at} s" >&2
[ -z "$outage" ] || echo "   outage of $outage ($outage_kind) at ${outage_at} s for ${outage_for} s$([ "$kill_gateway_during_outage" = 1 ] && echo ", tradestate killed halfway")" >&2

t0_us=$(now_us)
t0_s="${t0_us:0:${#t0_us}-6}.${t0_us: -6}"
timeout -k 5 "$loadgen_limit" "$loadgen_bin" "${loadgen_args[@]}" >"$tmp/loadgen.out" 2> >(tee "$tmp/loadgen.err" >&2) &
loadgen_pid=$!
python3 -c "$readyz_poller" "http://127.0.0.1:$http_port/readyz" "$t0_s" "$tmp/readyz.jsonl" &
poller_pid=$!
event "loadgen started (pid $loadgen_pid, bound ${loadgen_limit} s)"

loadgen_running() { kill -0 "$loadgen_pid" 2>/dev/null; }
service_reported_dead=0
# sleep_until DUE_US: waits, watching loadgen and the service; 1 when loadgen has ended.
sleep_until() {
  while [ "$(rel_us)" -lt "$1" ]; do
    loadgen_running || return 1
    if [ "$expect_service_down" = 0 ] && [ "$service_reported_dead" = 0 ] && ! kill -0 "$service_pid" 2>/dev/null; then
      event "tradestate exited on its own (see $tmp/service.log)"
      service_reported_dead=1
    fi
    sleep 0.2
  done
}

for entry in ${schedule[@]+"${schedule[@]}"}; do
  read -r due action arg <<<"$entry"
  if ! sleep_until "$due"; then
    event "loadgen ended before '$action' at $(fmt_s "$due") s: skipped"
    continue
  fi
  act "$action" "$arg"
done

loadgen_status=0
wait "$loadgen_pid" || loadgen_status=$?
loadgen_pid=""
event "loadgen exited with status $loadgen_status$([ "$loadgen_status" = 124 ] && echo " (killed: not done within ${loadgen_limit} s)")"
stop_pid "$poller_pid"; poller_pid=""
python3 -c "$readyz_poller" "http://127.0.0.1:$http_port/readyz" "$t0_s" "$tmp/readyz.jsonl" final || true
python3 -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
  "http://127.0.0.1:$http_port/metrics" >"$tmp/metrics.txt" 2>/dev/null || true

# --- the summary --------------------------------------------------------------------------------
echo >&2
echo "== loadgen's report" >&2
cat "$tmp/loadgen.out"
echo
echo "== chaos summary ($tmp)"
python3 - "$tmp" "$loadgen_status" "${outage:-}" "$outage_at" "$outage_for" "$outage_kind" <<'PY'
import json, os, re, statistics, sys
tmp, status, outage, outage_at, outage_for, kind = sys.argv[1:7]
status = int(status)
outage_at, outage_for = float(outage_at), float(outage_for)

def read(name):
    try:
        with open(os.path.join(tmp, name)) as f:
            return f.read()
    except OSError:
        return ""

out = read("loadgen.out")
lines = [l for l in out.splitlines() if "acked=" in l and "verified=" in l]
print(f"loadgen: exit {status}" + (" (killed by its bound)" if status == 124 else "")
      + f"; {lines[-1].strip() if lines else 'no verification line (see loadgen.err)'}")
for l in out.splitlines():
    if l.startswith("spill log:"):
        print(f"loadgen: {l}")

try:
    report = json.loads(read("report.json"))
except ValueError:
    report = None
if report:
    totals = {}
    for row in report.get("rows", []):
        for k in ("stored", "coalesced", "duplicate", "stale", "spooled", "volatile"):
            if k in row:
                totals[k] = totals.get(k, 0) + row[k]
    print("acks by status: " + ", ".join(f"{k} {v}" for k, v in totals.items())
          + f"; sent {report.get('sent')}, unanswered {report.get('unanswered')}")
    r = report.get("retries") or {}
    print(f"resends: {r.get('throttled', 0)} refused for load (HTTP 429 / -TRYAGAIN throttle), "
          f"{r.get('unavailable', 0)} partition unavailable (HTTP 503 / -TRYAGAIN), "
          f"{r.get('failed', 0)} no answer (connection refused/reset/timed out); "
          f"{r.get('refused', 0)} refused as invalid (never resent)")
    if report.get("first_problem"):
        print(f"loadgen's first problem: {report['first_problem']}")
else:
    print("no report.json from loadgen")

events = []
for l in read("events.log").splitlines():
    t, _, text = l.partition("\t")
    events.append((float(t), text))
kills = [t for t, e in events if e.startswith("kill -9 tradestate")]
backs = [t for t, e in events if e.startswith("tradestate answers again")]
for k in kills:
    b = next((b for b in backs if b >= k), None)
    print(f"tradestate killed at {k:.1f} s: " + (f"answering again after {b - k:.1f} s" if b is not None else "did not come back"))

back_times = [float(x) for x in read("outage_back").split()]
back = max(back_times) if back_times else None
if outage:
    until = back if back is not None else outage_at + outage_for
    print(f"outage of {outage} ({kind}): {outage_at:.1f} s to "
          + (f"{back:.1f} s (back)" if back is not None else f"{until:.1f} s (no return seen)"))
    timeline = (report or {}).get("timeline") or []
    window = [p for p in timeline if outage_at <= p["second"] < until]
    if window:
        p99s = [p["p99_ms"] for p in window if p.get("acked")]
        resends = sum(p.get("resends", 0) for p in window)
        acked = [p.get("acked", 0) for p in window]
        if p99s:
            print(f"acks during the outage (seconds {window[0]['second']}-{window[-1]['second']}): "
                  f"per-second p99 max {max(p99s):.1f} ms, median {statistics.median(p99s):.1f} ms; "
                  f"acked/s min {min(acked)}, mean {sum(acked) / len(acked):.0f}; resends {resends}")
        else:
            print(f"acks during the outage: none acknowledged in seconds {window[0]['second']}-{window[-1]['second']}; resends {resends}")
    else:
        print("acks during the outage: no per-second data in the report for that window")
    windows = (report or {}).get("windows") or []
    labels = ("before the outage", "during the outage")[-len(windows):] if windows else ()
    for w, label in zip(windows, labels):
        l = w["latency"]
        print(f"acks {label} (seconds {w['from_s']}-{w['until_s']}, whole window): {w['acked']} acked "
              f"({w['acked'] / max(1, w['until_s'] - w['from_s']):.0f}/s), p50 {l['p50_ms']:.2f} ms, "
              f"p99 {l['p99_ms']:.2f} ms, p99.9 {l['p999_ms']:.2f} ms, max {l['max_ms']:.2f} ms; resends {w['resends']}")

polls = [json.loads(l) for l in read("readyz.jsonl").splitlines() if l.strip()]
if polls:
    failed = [p for p in polls if "error" in p]
    print(f"readyz: {len(polls)} polls, {len(failed)} unanswered (service down or slow), "
          f"{sum(1 for p in polls if p.get('code') == 503)} with 503")
    has_spill = any("spill" in part for p in polls for part in (p.get("partitions") or {}).values())
    if not has_spill:
        print("spill: /readyz carries no spill report (a service without the spill log)")
    else:
        for name in ("ris", "rts", "rtss"):
            samples = [(p["t"], (p.get("partitions") or {}).get(name, {}).get("spill")) for p in polls]
            samples = [(t, s) for t, s in samples if isinstance(s, dict)]
            if not samples:
                continue
            peak_r = max(samples, key=lambda x: x[1].get("records") or 0)
            peak_b = max(samples, key=lambda x: x[1].get("bytes") or 0)
            oldest = max((s.get("oldest_age_ms") or 0) for _, s in samples)
            if not (peak_r[1].get("records") or peak_b[1].get("bytes")) and name != outage:
                continue
            line = (f"spill {name}: peak {peak_r[1].get('records') or 0} records (at {peak_r[0]:.0f} s), "
                    f"{(peak_b[1].get('bytes') or 0) / 1e6:.2f} MB (at {peak_b[0]:.0f} s), oldest {oldest / 1000:.1f} s")
            if name == outage and back is not None:
                after = [(t, s) for t, s in samples if t >= back]
                empty = next((t for t, s in after if (s.get("records") or 0) == 0 and not s.get("spilling")), None)
                if empty is not None:
                    final = " (first seen by the poll after loadgen ended)" if empty == polls[-1]["t"] and polls[-1].get("final") else ""
                    line += f"; empty {empty - back:.1f} s after {name} came back (1 s polls){final}"
                elif after:
                    line += f"; still {after[-1][1].get('records')} records {after[-1][0] - back:.0f} s after {name} came back"
            last = samples[-1][1]
            line += f"; at the last poll: {last.get('records')} records"
            print(line)
else:
    print("readyz: no samples")

metrics = read("metrics.txt")
spill_metrics = [l for l in metrics.splitlines() if re.match(r"tradestate_(spill|spilled|replayed)_", l)]
if spill_metrics:
    print("spill metrics at the end (since the last restart):")
    for l in sorted(spill_metrics):
        print(f"  {l}")

log = re.sub(r"\x1b\[[0-9;]*m", "", read("service.log"))
# Every start in development mode warns about it (two lines): expected, counted apart.
notices = ("DEVELOPMENT MODE", "no auth.operator_tokens configured")
levels = {"ERROR": [], "WARN": []}
expected = 0
for l in log.splitlines():
    m = re.search(r"\b(ERROR|WARN)\b", l)
    if not m:
        continue
    if any(n in l for n in notices):
        expected += 1
    else:
        levels[m.group(1)].append(re.sub(r"^\S+\s+", "", l.strip()))   # without the timestamp
print(f"service log: {len(levels['ERROR'])} ERROR, {len(levels['WARN'])} WARN lines"
      + (f" (besides {expected} development-mode notices, 2 per start)" if expected else ""))
for lvl in ("ERROR", "WARN"):
    kinds = {}
    for msg in levels[lvl]:
        kinds.setdefault(re.sub(r"\d+", "N", msg), []).append(msg)
    for n, (_, msgs) in enumerate(sorted(kinds.items(), key=lambda kv: -len(kv[1]))):
        if n == 3:
            print(f"  ... and {len(kinds) - 3} other kinds of {lvl} lines")
            break
        print(f"  {len(msgs):>5} x {msgs[0][:200]}")
PY
exit "$loadgen_status"
