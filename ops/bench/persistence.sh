#!/usr/bin/env bash
# persistence.sh — RDB and AOF persistence of tradestate-engine against redis-server, same data, one run.
#
# Loads the same data set into both servers (--keys keys of mixed shapes: 60% strings, 15%
# 10-field hashes, 10% small sorted sets, 8% small sets, 5% lists of 20, 2% streams of 10
# entries; some with TTLs), then for each server:
#   1. write latency without a save: a single client SETs random existing keys back to back
#      for --seconds, each round trip timed (p50, p99, max), --rounds times;
#   2. the same while a BGSAVE runs (BGSAVE is sent once the probe is running; the probe
#      continues until the save is finished, at least --seconds; only requests issued while
#      the save ran are counted), --rounds saves; also the mean BGSAVE duration.
#      Every probe also reports each round's max and the share of CPU time the hypervisor
#      stole in it (/proc/stat steal): on a shared VM a stolen slice shows up as a pause of
#      any server, so a max is only meaningful next to the steal of its round;
#   3. RDB file size of the data set as loaded (SAVE right after loading, before the probes);
#   4. load time at start: the server restarted on that file, time from process start until
#      it answers PING and DBSIZE equals the key count;
#   5. AOF (appendonly yes, appendfsync everysec), each server fresh for the same data set:
#      a. default automatic rewrites (percentage 100, min 64mb): AOF bytes once the load and any
#         rewrite it started are done. This figure depends on where the automatic rewrites
#         fall during the load (a rewrite that starts late leaves the rest of the load in the
#         incremental file until the next one), so it is shown but not the size comparison;
#      b. automatic rewrites off: the AOF is the command log of the load; its bytes and the
#         time to load it at start (as in 4);
#      c. BGREWRITEAOF on that idle server: AOF bytes after it (RDB preamble base) and the
#         time to load that at start;
#      d. the write probe of 2 while a BGREWRITEAOF runs.
# Targets: no pause over 10 ms during BGSAVE; load time and file size <= Redis's.
#
# Usage: ops/bench/persistence.sh [--keys N] [--seconds S] [--rounds R] [--out FILE]
#   --keys N     keys in the data set (default 1000000)
#   --seconds S  minimum probe duration per round (default 5)
#   --rounds R   rounds of each probe (default 3)
#   --out FILE   also write the markdown table to FILE
# Needs: redis-server, redis-cli, python3, cargo. Ports: free loopback ports.
set -euo pipefail

keys=1000000
seconds=5
rounds=3
out=""
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=ops/bench/lib.sh
. "$root/ops/bench/lib.sh"
parse_options persistence '2,/^# Needs/p' --keys=keys --seconds=seconds --rounds=rounds \
  --out=out -- "$@"
need_tools persistence "" redis-server redis-cli python3 cargo
build_release "$root" tradestate-engine -p tradestate-engine
engine_bin="$root/target/release/tradestate-engine"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# --- the data set, as a RESP stream for redis-cli --pipe ----------------------------------------
python3 - "$keys" > "$work/data.resp" <<'PY'
import random, sys
n = int(sys.argv[1]); rnd = random.Random(42); out = sys.stdout.buffer
far = 4102444800000
def cmd(*a):
    parts = [b"*%d\r\n" % len(a)]
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(x), x))
    out.write(b"".join(parts))
for i in range(n):
    k = "key:%d" % i
    r = rnd.random()
    if r < 0.60:
        cmd("SET", k, "v%d-" % i + "x" * rnd.randint(10, 80))
    elif r < 0.75:
        a = ["HSET", k]
        for f in ("bid", "ask", "equity", "margin", "free", "level", "ping", "seq", "ts", "name"):
            a += [f, str(rnd.randint(0, 10**6)) if f != "name" else "terminal-%d" % i]
        cmd(*a)
    elif r < 0.85:
        a = ["ZADD", k]
        for j in range(8):
            a += [str(rnd.random() * 1000), "m%d" % j]
        cmd(*a)
    elif r < 0.93:
        cmd("SADD", k, *[str(rnd.randint(0, 10**9)) for _ in range(6)])
    elif r < 0.98:
        cmd("RPUSH", k, *["item-%d" % j for j in range(20)])
    else:
        for j in range(10):
            cmd("XADD", k, "*", "price", str(rnd.random()), "qty", str(j))
    if i % 10 == 0:
        cmd("PEXPIREAT", k, far)
PY

# --- helpers -------------------------------------------------------------------------------------
start_server() { # kind dir port [aof [extra config flags...]] -> pid
  local kind=$1 dir=$2 port=$3 aof=${4:-no}
  shift $(($# < 4 ? $# : 4))
  if [ "$kind" = redis ]; then
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly "$aof" \
      --appendfsync everysec --logfile "$dir/server.log" --daemonize no "$@" >/dev/null 2>&1 &
  else
    "$engine_bin" --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly "$aof" \
      --appendfsync everysec --loglevel warning "$@" >"$dir/server.log" 2>&1 &
  fi
  echo $!
}
wait_ready() { # port expected_keys -> seconds from now until PING answers and DBSIZE matches
  python3 - "$1" "$2" <<'PY'
import socket, sys, time
port, want = int(sys.argv[1]), int(sys.argv[2])
t0 = time.monotonic()
def ask(cmd):
    s = socket.create_connection(("127.0.0.1", port), timeout=600)
    s.sendall(cmd); data = s.recv(100); s.close(); return data
while True:
    try:
        if ask(b"PING\r\n").startswith(b"+PONG") and int(ask(b"DBSIZE\r\n")[1:].split(b"\r")[0]) >= want:
            break
    except (OSError, ValueError):
        pass
    time.sleep(0.005)
print("%.3f" % (time.monotonic() - t0))
PY
}
stop_server() { # port pid: SHUTDOWN NOSAVE and wait for the process to exit
  redis-cli -p "$1" shutdown nosave >/dev/null 2>&1 || true
  wait "$2" 2>/dev/null || true
}
wait_rewrite() { # port: until no AOF rewrite runs
  until redis-cli -p "$1" info persistence | grep -q '^aof_rewrite_in_progress:0'; do sleep 0.1; done
}
aof_restart() { # label: stop the AOF server of this loop, record its AOF bytes, restart it on
  # them and record the load time (sets port and pid to the new server's)
  stop_server "$port" "$pid"
  R[$kind.aof_size_$1]=$(aof_bytes "$dir")
  port=$(free_port)
  pid=$(start_server "$kind" "$dir" "$port" yes "${no_auto[@]}"); pids+=("$pid")
  R[$kind.aof_load_$1]=$(wait_ready "$port" "$total")
}
aof_bytes() { # dir -> bytes of the AOF set (both keep Redis 7's appendonlydir/: base, incr files, manifest)
  find "$1/appendonlydir" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}'
}
probe() { # port seconds job(none/bgsave/bgrewriteaof) keys rounds -> "p50 p99 max count job_s per-round"
  python3 - "$@" <<'PY'
import random, socket, sys, time
port, secs, job, n, rounds = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
bg = job != "none"
command, running = {
    "bgsave": (b"BGSAVE\r\n", b"rdb_bgsave_in_progress:0"),
    "bgrewriteaof": (b"BGREWRITEAOF\r\n", b"aof_rewrite_in_progress:0"),
}.get(job, (None, None))
s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
c = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
def info():
    c.sendall(b"INFO persistence\r\n"); buf = b""
    while not buf.endswith(b"\r\n\r\n") and b"aof_enabled" not in buf:
        buf += c.recv(65536)
    return buf
def cpu_ticks():
    # /proc/stat "cpu" line: total ticks and steal ticks (time the hypervisor ran something else).
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v[:8]), v[7]
def one_round(rnd):
    lat = []; t0 = time.monotonic(); started = None; done = None
    while True:
        now = time.monotonic()
        if bg and started is None and now - t0 > 0.5:
            c.sendall(command); c.recv(100); started = time.monotonic()
        if bg and started is not None and done is None and len(lat) % 200 == 0:
            if running in info():
                done = time.monotonic()
        if now - t0 > secs and (not bg or done is not None):
            break
        k = b"key:%d" % rnd.randrange(n)
        req = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$5\r\nprobe\r\n" % (len(k), k)
        a = time.perf_counter(); s.sendall(req); f.readline(); b = time.perf_counter()
        lat.append((time.monotonic(), b - a))
    # During a BGSAVE, only the requests issued while it ran count.
    if bg:
        return [l for (t, l) in lat if started <= t <= done], done - started
    return [l for (_, l) in lat], 0.0
rnd = random.Random(7); every = []; detail = []; job_s = []
# A round of a job ends once INFO shows it finished, so the next round's job can start.
for _ in range(rounds):
    total0, steal0 = cpu_ticks()
    lat, took = one_round(rnd)
    total1, steal1 = cpu_ticks()
    steal = 100.0 * (steal1 - steal0) / max(1, total1 - total0)
    every += lat; job_s.append(took)
    detail.append("%.1f@%.0f%%" % (max(lat) * 1000, steal))
every.sort()
q = lambda p: every[min(len(every) - 1, int(p * len(every)))] * 1000
print("%.3f %.3f %.3f %d %s %s" % (q(0.5), q(0.99), every[-1] * 1000, len(every),
      "%.2f" % (sum(job_s) / len(job_s)) if bg else "-", ",".join(detail)))
PY
}

declare -A R
for kind in redis engine; do
  dir="$work/$kind"; mkdir -p "$dir"
  port=$(free_port)
  pid=$(start_server "$kind" "$dir" "$port"); pids+=("$pid")
  wait_ready "$port" 0 >/dev/null
  echo "$kind: loading $keys keys..." >&2
  redis-cli -p "$port" --pipe < "$work/data.resp" >/dev/null
  total=$(redis-cli -p "$port" dbsize)
  # The file of the loaded data set (before the probes overwrite keys): size and load time.
  redis-cli -p "$port" save >/dev/null
  R[$kind.size]=$(stat -c %s "$dir/dump.rdb")
  cp "$dir/dump.rdb" "$dir/initial.rdb"
  echo "$kind: probe without save..." >&2
  R[$kind.base]=$(probe "$port" "$seconds" none "$keys" "$rounds")
  echo "$kind: probe during BGSAVE..." >&2
  R[$kind.bg]=$(probe "$port" "$seconds" bgsave "$keys" "$rounds")
  stop_server "$port" "$pid"
  mv "$dir/initial.rdb" "$dir/dump.rdb"
  echo "$kind: restart and load..." >&2
  port=$(free_port)
  pid=$(start_server "$kind" "$dir" "$port"); pids+=("$pid")
  R[$kind.load]=$(wait_ready "$port" "$total")
  stop_server "$port" "$pid"

  dir="$work/$kind-aof"; mkdir -p "$dir"
  echo "$kind: AOF with automatic rewrites: load $keys keys..." >&2
  port=$(free_port)
  pid=$(start_server "$kind" "$dir" "$port" yes); pids+=("$pid")
  wait_ready "$port" 0 >/dev/null
  redis-cli -p "$port" --pipe < "$work/data.resp" >/dev/null
  # An automatic rewrite started during the load finishes first (a shutdown would abandon it).
  wait_rewrite "$port"
  R[$kind.aof_rewrites]=$(redis-cli -p "$port" info persistence | tr -d '\r' | awk -F: '$1=="aof_rewrites"{print $2}')
  stop_server "$port" "$pid"
  R[$kind.aof_size_auto]=$(aof_bytes "$dir")
  rm -rf "$dir/appendonlydir"

  echo "$kind: AOF without automatic rewrites: load, restart and load..." >&2
  no_auto=(--auto-aof-rewrite-percentage 0)
  port=$(free_port)
  pid=$(start_server "$kind" "$dir" "$port" yes "${no_auto[@]}"); pids+=("$pid")
  wait_ready "$port" 0 >/dev/null
  redis-cli -p "$port" --pipe < "$work/data.resp" >/dev/null
  aof_restart log

  echo "$kind: BGREWRITEAOF on the idle server, restart and load..." >&2
  redis-cli -p "$port" bgrewriteaof >/dev/null
  sleep 0.2
  wait_rewrite "$port"
  aof_restart rw
  echo "$kind: probe during BGREWRITEAOF..." >&2
  R[$kind.rw]=$(probe "$port" "$seconds" bgrewriteaof "$keys" "$rounds")
  stop_server "$port" "$pid"
done

field() { echo "${R[$1]}" | awk -v i="$2" '{print $i}'; }
{
  echo "## persistence: $keys keys, probes ${rounds} x >= ${seconds}s ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo
  echo "| measure | redis-server | tradestate-engine |"
  echo "|---|---|---|"
  echo "| SET p50 / p99 / max ms, no save | $(field redis.base 1) / $(field redis.base 2) / $(field redis.base 3) | $(field engine.base 1) / $(field engine.base 2) / $(field engine.base 3) |"
  echo "| SET p50 / p99 / max ms, during BGSAVE | $(field redis.bg 1) / $(field redis.bg 2) / $(field redis.bg 3) | $(field engine.bg 1) / $(field engine.bg 2) / $(field engine.bg 3) |"
  echo "| max ms per round @ host steal, no save | $(field redis.base 6) | $(field engine.base 6) |"
  echo "| max ms per round @ host steal, during BGSAVE | $(field redis.bg 6) | $(field engine.bg 6) |"
  echo "| SETs timed during BGSAVE run | $(field redis.bg 4) | $(field engine.bg 4) |"
  echo "| BGSAVE duration s (mean) | $(field redis.bg 5) | $(field engine.bg 5) |"
  echo "| RDB file bytes | ${R[redis.size]} | ${R[engine.size]} |"
  echo "| load at start s (to PING + DBSIZE) | ${R[redis.load]} | ${R[engine.load]} |"
  echo "| AOF bytes, default automatic rewrites, after the load (rewrites during it) | ${R[redis.aof_size_auto]} (${R[redis.aof_rewrites]}) | ${R[engine.aof_size_auto]} (${R[engine.aof_rewrites]}) |"
  echo "| AOF bytes, command log of the load (automatic rewrites off) | ${R[redis.aof_size_log]} | ${R[engine.aof_size_log]} |"
  echo "| AOF load at start s, command log (to PING + DBSIZE) | ${R[redis.aof_load_log]} | ${R[engine.aof_load_log]} |"
  echo "| AOF bytes after BGREWRITEAOF (RDB preamble) | ${R[redis.aof_size_rw]} | ${R[engine.aof_size_rw]} |"
  echo "| AOF load at start s, after BGREWRITEAOF | ${R[redis.aof_load_rw]} | ${R[engine.aof_load_rw]} |"
  echo "| SET p50 / p99 / max ms, during BGREWRITEAOF | $(field redis.rw 1) / $(field redis.rw 2) / $(field redis.rw 3) | $(field engine.rw 1) / $(field engine.rw 2) / $(field engine.rw 3) |"
  echo "| max ms per round @ host steal, during BGREWRITEAOF | $(field redis.rw 6) | $(field engine.rw 6) |"
  echo "| BGREWRITEAOF duration s (mean) | $(field redis.rw 5) | $(field engine.rw 5) |"
} | tee ${out:+"$out"}
