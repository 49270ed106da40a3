#!/usr/bin/env bash
# loadgen-ramp.sh — the highest rate of realistic MT5 traffic the Tradestate service sustains
# (p99 acknowledgement latency under a bound, resends under 1%), found by `loadgen --ramp`, with
# the read-back proving nothing acknowledged was lost.
#
# Builds the release binaries, starts `tradestate` in dev mode on free loopback ports with a
# fresh data directory and per-terminal/global quotas raised out of the way (the ramp measures
# the service, not its quotas), then runs loadgen: --terminals simulated terminals (heartbeats
# 1-30 s, trades opening/moving/closing, position snapshots every 60 s, signal bursts, occasional
# reconnects), half over HTTP batches and half over RESP pipelines, open loop, latency from each
# update's due time. The rate starts at --start and grows x--factor every --step until a step
# breaks the bounds; then everything is read back from the three engines.
#
# Usage: ops/bench/loadgen-ramp.sh [--terminals N] [--start R] [--factor F] [--step S]
#                                  [--p99-ms MS] [--transport http|resp|mixed] [--out DIR]
#   --terminals N   simulated terminals (default 1000)
#   --start R       first step's rate, updates/s (default 5000)
#   --factor F      rate multiplier per step (default 1.4)
#   --step S        seconds per step (default 10)
#   --p99-ms MS     p99 bound of a step that holds (default 50)
#   --transport T   http, resp or mixed (default mixed)
#   --out DIR       keep report.json, chart.html and table.txt here (default: a temp dir, printed)
# Needs: cargo, python3. With 2+ cores the service runs on core 0 and loadgen on core 1.
set -euo pipefail

terminals=1000
start=5000
factor=1.4
step=10
p99=50
transport=mixed
out=""
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=ops/bench/service.sh
. "$root/ops/bench/service.sh"
parse_options loadgen-ramp.sh '2,24p' --terminals=terminals --start=start --factor=factor \
  --step=step --p99-ms=p99 --transport=transport --out=out -- "$@"
need_tools loadgen-ramp.sh "" cargo python3
build_release "$root" "tradestate and loadgen" --bin tradestate --bin loadgen
service_bin="$root/target/release/tradestate"
loadgen_bin="$root/target/release/loadgen"
pin_cores "service on core 0, loadgen on core 1"

tmp=$(mktemp -d)
[ -n "$out" ] || out="$tmp/out"
mkdir -p "$out"
cleanup() {
  if [ -n "${service_pid:-}" ]; then kill "$service_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$tmp/data"
}
trap cleanup EXIT

start_tradestate "$service_bin" "$tmp" "$server_pin" || exit 1

echo "== loadgen --ramp: $terminals terminals ($transport), from $start updates/s x$factor every ${step}s, p99 <= $p99 ms ($pinning)" >&2
status=0
# shellcheck disable=SC2086
$client_pin "$loadgen_bin" --http "http://127.0.0.1:$http_port" --resp "127.0.0.1:$resp_port" \
  --ris-url "redis://127.0.0.1:$ris_port" --rts-url "redis://127.0.0.1:$rts_port" \
  --rtss-url "redis://127.0.0.1:$rtss_port" \
  --terminals "$terminals" --transport "$transport" --ramp --ramp-start "$start" \
  --ramp-factor "$factor" --step "${step}s" --p99-ms "$p99" \
  --report "$out/report.json" --chart "$out/chart.html" | tee "$out/table.txt" || status=$?
echo "run on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load before $(cut -d' ' -f1-3 /proc/loadavg); report, chart and table in $out" >&2
exit "$status"
