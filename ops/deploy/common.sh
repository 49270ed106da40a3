# common.sh — what the deployment helpers in ops/deploy/ share: sourced, never run. Each caller
# sets $dir (where its servers keep pid files) and defines die().

for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install -y redis-server redis-tools)"
done

# Stops every server whose pid file is under $dir.
down() {
  [ -d "$dir" ] || return 0
  for pidfile in "$dir"/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

# Waits (at most 10 s) until the server on port $1 answers PING.
wait_ping() {
  for _ in $(seq 100); do
    [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  die "the server on port $1 did not start (logs in $dir)"
}
