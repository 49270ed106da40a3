#!/usr/bin/env bash
# memory.sh — memory of tradestate-engine against redis-server for the service's key shapes, and
# the cost of deleting a huge value with and without lazy free. Same machine, same run.
#
# Memory rows: for each shape, a fresh redis-server and a fresh tradestate-engine (release build)
# are loaded with the same commands (`redis-cli --pipe`), then INFO memory's used_memory and
# used_memory_rss are read from each; the table gives both and the ratio engine/redis.
#   ris     --keys hashes `ris:{T<i>.desk-a}` with 15 fields (a terminal's instance state)
#   rts     --keys hashes `rts:{T<i%1000>.desk-a}:<ticket>` with 20 fields (one position)
#   string  --keys plain strings of 29 bytes
# Delete rows: one hash of --fields fields; the round trip of `DEL big` with
# lazyfree-lazy-user-del no, of `DEL big` with it yes, and of `UNLINK big`; and for DEL and UNLINK
# the p50/p99/max latency of PINGs sent on another connection while the delete runs.
#
# Usage: ops/bench/memory.sh [--keys N] [--fields N] [--shapes "ris rts string"] [--no-delete]
#                            [--no-build] [--out FILE]
#   --keys N      keys per memory row (default 1000000)
#   --fields N    fields of the hash deleted in the delete rows (default 1000000)
#   --shapes "…"  only these memory rows
#   --no-delete   skip the delete rows
#   --no-build    use the existing target/release/tradestate-engine
#   --out FILE    also write the markdown tables to FILE
# Needs: redis-server, redis-cli, python3, cargo. Check it quickly with --keys 10000 --fields 10000.
set -euo pipefail

keys=1000000
fields=1000000
shapes="ris rts string"
delete=1
build=1
out=""
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=ops/bench/lib.sh
. "$here/lib.sh"
parse_options memory.sh '2,24p' --keys=keys --fields=fields --shapes=shapes \
  --no-delete=delete=0 --no-build=build=0 --out=out -- "$@"
need_tools memory.sh " (apt-get install -y redis-server redis-tools python3)" redis-server redis-cli python3 cargo
helper="$here/memory_bench.py"
if [ "$build" = 1 ]; then
  build_release "$root" tradestate-engine -p tradestate-engine
fi
engine_bin="$root/target/release/tradestate-engine"
[ -x "$engine_bin" ] || { echo "memory.sh: $engine_bin missing (drop --no-build)" >&2; exit 2; }

tmp=$(mktemp -d)
redis_port=""
engine_pid=""
stop_servers() {
  [ -n "$redis_port" ] && redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  if [ -n "$engine_pid" ]; then kill "$engine_pid" 2>/dev/null || true; wait "$engine_pid" 2>/dev/null || true; fi
  redis_port=""; engine_pid=""
}
cleanup() { stop_servers; rm -rf "$tmp"; }
trap cleanup EXIT

wait_ready() {
  local port="$1"
  for _ in $(seq 1 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "memory.sh: server on port $port did not start" >&2; cat "$tmp"/*.log >&2; exit 1
}

# Fresh servers for every row, so RSS reflects only that row's data.
start_servers() {
  redis_port=$(free_port)
  engine_port=$(free_port)
  (cd "$tmp" && exec redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize no >"$tmp/redis.log" 2>&1) &
  (cd "$tmp" && RUST_LOG=warn exec "$engine_bin" --port "$engine_port" --bind 127.0.0.1 >"$tmp/engine.log" 2>&1) &
  engine_pid=$!
  wait_ready "$redis_port"
  wait_ready "$engine_port"
}

info_field() { redis-cli -p "$1" info memory | tr -d '\r' | sed -n "s/^$2:\\([0-9]*\\)\$/\\1/p"; }

load() {
  local port="$1" shape="$2" n="$3" result
  result=$(python3 "$helper" gen "$shape" "$n" | redis-cli -p "$port" --pipe 2>&1 | tail -n 1)
  case "$result" in
    *"errors: 0, replies: "*) ;;
    *) echo "memory.sh: loading $shape into port $port failed: $result" >&2; exit 1 ;;
  esac
}

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

memory_rows=()
for shape in $shapes; do
  start_servers
  load "$redis_port" "$shape" "$keys"
  load "$engine_port" "$shape" "$keys"
  rk=$(redis-cli -p "$redis_port" dbsize); ek=$(redis-cli -p "$engine_port" dbsize)
  [ "$rk" = "$ek" ] || { echo "memory.sh: $shape: redis has $rk keys, engine $ek" >&2; exit 1; }
  ru=$(info_field "$redis_port" used_memory); eu=$(info_field "$engine_port" used_memory)
  rr=$(info_field "$redis_port" used_memory_rss); er=$(info_field "$engine_port" used_memory_rss)
  printf '%-7s keys %s  used_memory redis %s engine %s ratio %s | rss redis %s engine %s ratio %s\n' \
    "$shape" "$ek" "$ru" "$eu" "$(ratio "$eu" "$ru")" "$rr" "$er" "$(ratio "$er" "$rr")" >&2
  memory_rows+=("| $shape | $ek | $ru | $eu | $(ratio "$eu" "$ru") | $rr | $er | $(ratio "$er" "$rr") |")
  stop_servers
done

delete_rows=()
ping_rows=()
if [ "$delete" = 1 ]; then
  start_servers
  for side in redis engine; do
    if [ "$side" = redis ]; then port=$redis_port; else port=$engine_port; fi
    times=()
    for mode in del-sync del-lazy unlink; do
      load "$port" bighash "$fields"
      case "$mode" in
        del-sync) redis-cli -p "$port" config set lazyfree-lazy-user-del no >/dev/null; cmd=DEL ;;
        del-lazy) redis-cli -p "$port" config set lazyfree-lazy-user-del yes >/dev/null; cmd=DEL ;;
        unlink) redis-cli -p "$port" config set lazyfree-lazy-user-del no >/dev/null; cmd=UNLINK ;;
      esac
      times+=("$(python3 "$helper" del "$port" "$cmd")")
    done
    redis-cli -p "$port" config set lazyfree-lazy-user-del no >/dev/null
    printf '%-6s %s-field hash: DEL %s ms, DEL (lazyfree-lazy-user-del yes) %s ms, UNLINK %s ms\n' \
      "$side" "$fields" "${times[0]}" "${times[1]}" "${times[2]}" >&2
    delete_rows+=("| $side | $fields | ${times[0]} | ${times[1]} | ${times[2]} |")
    for cmd in DEL UNLINK; do
      load "$port" bighash "$fields"
      read -r ms p50 p99 max n < <(python3 "$helper" pings "$port" "$cmd")
      printf '%-6s PINGs during %s of the %s-field hash (%s ms): p50 %s us p99 %s us max %s us (%s pings)\n' \
        "$side" "$cmd" "$fields" "$ms" "$p50" "$p99" "$max" "$n" >&2
      ping_rows+=("| $side | $cmd | $ms | $n | $p50 | $p99 | $max |")
    done
  done
  stop_servers
fi

redis_version=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')
{
  echo "Run on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, redis-server $redis_version vs tradestate-engine $(git_rev "$root") (release)."
  md_more "| shape | keys | redis used_memory | engine used_memory | ratio | redis RSS | engine RSS | ratio |" "${memory_rows[@]}"
  md_more "| server | hash fields | DEL ms | DEL ms (lazyfree-lazy-user-del yes) | UNLINK ms |" "${delete_rows[@]}"
  md_more "| server | command | its round trip ms | PINGs meanwhile | PING p50 us | PING p99 us | PING max us |" "${ping_rows[@]}"
} | tee "${out:-/dev/null}"
