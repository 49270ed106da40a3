#!/usr/bin/env bash
# engine-vs-redis.sh — throughput of tradestate-engine against redis-server, same machine, same run.
#
# Starts redis-server and tradestate-engine on free loopback ports with persistence off, runs the
# same redis-benchmark calls against each (-c 50, -P 1 and -P 16; set, get, incr, hset, sadd,
# zadd, an XADD with MAXLEN ~ 10000, a 10-field HSET shaped like a terminal heartbeat, lpush, and
# lpop from a list filled beforehand) and prints requests/s for both and the ratio engine/redis.
# Each call's -n is sized from a short calibration run on redis-server so every measurement lasts
# about BENCH_SECONDS. Then consumer-group throughput (ops/src/bin/consumer-bench: 200,000
# entries, 3 consumers each looping XREADGROUP COUNT 100 + one XACK of what they got, every entry
# acknowledged exactly once) and the memory of 1,000,000 signal-shaped stream entries (XADD
# without trimming, INFO used_memory before and after) on each server.
#
# Each row is measured --rounds times, alternating which server goes first, and the median of
# each server's rounds is reported: on a shared 2-core machine single runs swing by 20-40%.
#
# Usage: ops/bench/engine-vs-redis.sh [--seconds N] [--rounds R] [--tests "a b"] [--no-memory] [--out FILE]
#   --seconds N    target duration of each measurement (default 10)
#   --rounds R     measurements per server and row, median reported (default 3)
#   --tests "a b"  only these rows (default: set get incr hset sadd zadd xadd heartbeat lpush lpop)
#   --no-memory    skip the stream-entry memory measurement
#   --out FILE     also write the markdown table to FILE
#   --baseline BIN another tradestate-engine binary (e.g. built from an older commit) in
#                  redis-server's place: the same rows, same run, as new/old ratios, for telling
#                  a change's cost from the machine's run-to-run drift
# Needs: redis-server, redis-benchmark (apt-get install redis-server redis-tools), cargo.
# Servers and the benchmark client are pinned to different cores with taskset when there are
# at least 2, so the two servers run under the same conditions.
set -euo pipefail

seconds=10
rounds=3
out=""
only=""
memory=1
baseline=""
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=ops/bench/lib.sh
. "$root/ops/bench/lib.sh"
parse_options engine-vs-redis '2,26p' --seconds=seconds --rounds=rounds --out=out --tests=only \
  --no-memory=memory=0 --baseline=baseline -- "$@"
[ -z "$baseline" ] || [ -x "$baseline" ] || { echo "engine-vs-redis: --baseline $baseline is not an executable" >&2; exit 2; }
need_tools engine-vs-redis "; install redis-server and redis-tools (apt-get install -y redis-server redis-tools)" \
  redis-server redis-benchmark redis-cli cargo
build_release "$root" tradestate-engine -p tradestate-engine -p tradestate-ops
engine_bin="$root/target/release/tradestate-engine"
consumer_bin="$root/target/release/consumer-bench"

pin_cores "servers on core 0, client on core 1"

redis_port=$(free_port)
engine_port=$(free_port)
tmp=$(mktemp -d)
cleanup() {
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  [ -n "${engine_pid:-}" ] && kill "$engine_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ -n "$baseline" ]; then
  # The old binary takes redis-server's port and column; SHUTDOWN NOSAVE stops it the same way.
  (cd "$tmp" && RUST_LOG=warn exec $server_pin "$baseline" --port "$redis_port" --bind 127.0.0.1 >"$tmp/redis.log" 2>&1) &
else
  (cd "$tmp" && $server_pin redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$tmp/redis.log" 2>&1) &
fi
(cd "$tmp" && RUST_LOG=warn exec $server_pin "$engine_bin" --port "$engine_port" --bind 127.0.0.1 >"$tmp/engine.log" 2>&1) &
engine_pid=$!
for port in "$redis_port" "$engine_port"; do
  for _ in $(seq 1 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -p "$port" ping >/dev/null || { echo "engine-vs-redis: server on port $port did not start" >&2; cat "$tmp"/*.log >&2; exit 1; }
done

redis_version=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')
heartbeat=(HSET 'ris:{term-__rand_int__}' login 51234567 balance 10250.75 equity 10312.40 margin 412.30 margin_free 9900.10 margin_level 2501.2 connected 1 ping_us 2350 build 4410 seq __rand_int__)
xadd=(XADD rtss:signals MAXLEN '~' 10000 '*' strategy s1 symbol EURUSD side buy)

# rps TEST PORT PIPELINE N -> prints requests per second
rps() {
  local test="$1" port="$2" pipe="$3" n="$4" line
  case "$test" in
    heartbeat) line=$($client_pin redis-benchmark -p "$port" -c 50 -P "$pipe" -n "$n" -r 1000 --csv "${heartbeat[@]}" | tail -n 1) ;;
    xadd) line=$($client_pin redis-benchmark -p "$port" -c 50 -P "$pipe" -n "$n" --csv "${xadd[@]}" | tail -n 1) ;;
    lpop)
      # Pop from a list holding more than the run pops, filled first (not measured).
      $client_pin redis-benchmark -p "$port" -c 50 -P 16 -n "$n" -t lpush -q >/dev/null
      line=$($client_pin redis-benchmark -p "$port" -c 50 -P "$pipe" -n "$n" --csv -t lpop | tail -n 1) ;;
    *) line=$($client_pin redis-benchmark -p "$port" -c 50 -P "$pipe" -n "$n" -r 100000 --csv -t "$test" | tail -n 1) ;;
  esac
  echo "$line" | cut -d, -f2 | tr -d '"'
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

tests=(set get incr hset sadd zadd xadd heartbeat lpush lpop)
if [ -n "$only" ]; then read -r -a tests <<<"$only"; fi
rows=()
printf '%-10s %3s %14s %14s %7s\n' test P redis-server engine ratio >&2
for pipe in 1 16; do
  for t in "${tests[@]}"; do
    redis-cli -p "$redis_port" flushall >/dev/null
    redis-cli -p "$engine_port" flushall >/dev/null
    calib_n=$(( pipe == 1 ? 50000 : 400000 ))
    calib=$(rps "$t" "$redis_port" "$pipe" "$calib_n")
    n=$(python3 -c "print(max(10000, int(float('$calib') * $seconds)))")
    rs=(); es=()
    for round in $(seq 1 "$rounds"); do
      redis-cli -p "$redis_port" flushall >/dev/null
      redis-cli -p "$engine_port" flushall >/dev/null
      if [ $((round % 2)) -eq 1 ]; then
        rs+=("$(rps "$t" "$redis_port" "$pipe" "$n")"); es+=("$(rps "$t" "$engine_port" "$pipe" "$n")")
      else
        es+=("$(rps "$t" "$engine_port" "$pipe" "$n")"); rs+=("$(rps "$t" "$redis_port" "$pipe" "$n")")
      fi
    done
    r=$(median "${rs[@]}")
    e=$(median "${es[@]}")
    ratio=$(python3 -c "print(f'{float(\"$e\") / float(\"$r\"):.2f}')")
    printf '%-10s %3s %14s %14s %7s   (redis %s | engine %s)\n' "$t" "$pipe" "$r" "$e" "$ratio" "${rs[*]}" "${es[*]}" >&2
    rows+=("| $t | $pipe | $n | $r | $e | $ratio | ${rs[*]} | ${es[*]} |")
  done
done

# used_memory of ENTRIES signal-shaped XADDs (no trimming), in bytes per entry, on PORT.
stream_memory() {
  local port="$1" entries=1000000 before after
  redis-cli -p "$port" flushall >/dev/null
  before=$(redis-cli -p "$port" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
  $client_pin redis-benchmark -p "$port" -c 50 -P 16 -n "$entries" -q XADD rtss:mem '*' \
    instance_id T1.desk-a_07 seq __rand_int__ signal_id trend-eu:2024-06-10:0001 time_msc 1718020800500 \
    strategy trend-eu symbol EURUSD action buy volume 0.1 price 1.0813 sl 1.075 tp 1.095 >/dev/null
  after=$(redis-cli -p "$port" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
  python3 -c "print(f'{($after - $before) / $entries:.1f}')"
}
consumer_rows=()
if [ "$memory" = 1 ]; then
  echo "consumer groups: XREADGROUP + XACK, 3 consumers, 200,000 entries, $rounds rounds per server..." >&2
  rc=(); ec=()
  for round in $(seq 1 "$rounds"); do
    rc+=("$($client_pin "$consumer_bin" --url "redis://127.0.0.1:$redis_port")")
    ec+=("$($client_pin "$consumer_bin" --url "redis://127.0.0.1:$engine_port")")
  done
  r=$(median "${rc[@]}"); e=$(median "${ec[@]}")
  ratio=$(python3 -c "print(f'{float(\"$e\") / float(\"$r\"):.2f}')")
  printf 'xreadgroup+xack entries/s: redis %s engine %s ratio %s\n' "$r" "$e" "$ratio" >&2
  consumer_rows+=("| XREADGROUP COUNT 100 + XACK, 3 consumers | $r | $e | $ratio | ${rc[*]} | ${ec[*]} |")
fi
memory_rows=()
if [ "$memory" = 1 ]; then
  echo "memory: 1,000,000 signal-shaped XADDs per server..." >&2
  redis_bpe=$(stream_memory "$redis_port")
  engine_bpe=$(stream_memory "$engine_port")
  mem_ratio=$(python3 -c "print(f'{$engine_bpe / $redis_bpe:.2f}')")
  printf 'stream entry bytes: redis %s engine %s ratio %s\n' "$redis_bpe" "$engine_bpe" "$mem_ratio" >&2
  memory_rows+=("| signal-shaped stream entry (12 fields, 1M entries, no trimming) | $redis_bpe | $engine_bpe | $mem_ratio |")
fi

{
  if [ -n "$baseline" ]; then
    echo "Run on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores: the \"redis-server\" columns are the baseline binary $baseline; tradestate-engine $(git_rev "$root")."
  else
    echo "Run on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, redis-server $redis_version vs tradestate-engine $(git_rev "$root")."
  fi
  echo "\`redis-benchmark -c 50 -P <P> -n <n>\` (\`-r 100000 -t <test>\`; heartbeat \`-r 1000\`), servers on core 0, client on core 1, persistence off; median of $rounds rounds per server, alternating which goes first."
  echo
  md_table "| test | P | n | redis-server req/s | tradestate-engine req/s | ratio | redis rounds | engine rounds |" "${rows[@]}"
  md_more "| consumers | redis-server entries/s | tradestate-engine entries/s | ratio | redis rounds | engine rounds |" "${consumer_rows[@]}"
  md_more "| memory (INFO used_memory after - before) | redis-server bytes/entry | tradestate-engine bytes/entry | ratio |" "${memory_rows[@]}"
} | tee "${out:-/dev/null}"
