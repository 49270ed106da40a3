# service.sh — sourced by the bench scripts: free loopback ports, and `tradestate` started in dev
# mode on them with quotas raised out of the way (the benches measure the service, not its
# quotas). Needs: python3.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
port_open() { python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(0 if s.connect_ex(("127.0.0.1",int(sys.argv[1])))==0 else 1)' "$1"; }

# start_tradestate BIN WORKDIR PIN: picks http_port resp_port ris_port rts_port rtss_port, starts
# BIN (prefixed by PIN, e.g. "taskset -c 0", or "") in WORKDIR with its data in WORKDIR/data and
# its log in WORKDIR/service.log, sets service_pid, and waits until HTTP and the engines answer.
# Returns 1 (after printing the log) when it does not come up.
start_tradestate() {
  local bin=$1 workdir=$2 pin=$3
  http_port=$(free_port); resp_port=$(free_port)
  ris_port=$(free_port); rts_port=$(free_port); rtss_port=$(free_port)
  echo "starting tradestate (http $http_port, resp $resp_port, engines $ris_port/$rts_port/$rtss_port)..." >&2
  # shellcheck disable=SC2086 # $pin is a command prefix or empty
  (cd "$workdir" && \
    TRADESTATE_LOG=warn \
    TRADESTATE_DATA_DIR="$workdir/data" \
    TRADESTATE_LISTEN_HTTP="127.0.0.1:$http_port" \
    TRADESTATE_LISTEN_RESP="127.0.0.1:$resp_port" \
    TRADESTATE_PARTITIONS_RIS_EMBEDDED_PORT="$ris_port" \
    TRADESTATE_PARTITIONS_RTS_EMBEDDED_PORT="$rts_port" \
    TRADESTATE_PARTITIONS_RTSS_EMBEDDED_PORT="$rtss_port" \
    TRADESTATE_LIMITS_PER_TERMINAL_RATE=1000000 \
    TRADESTATE_LIMITS_PER_TERMINAL_BURST=1000000 \
    TRADESTATE_LIMITS_GLOBAL_RATE=100000000 \
    exec $pin "$bin" >"$workdir/service.log" 2>&1) &
  service_pid=$!
  for _ in $(seq 1 100); do
    port_open "$http_port" && port_open "$ris_port" && port_open "$rtss_port" && break
    kill -0 "$service_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! port_open "$http_port"; then
    echo "tradestate did not start; its log:" >&2
    cat "$workdir/service.log" >&2
    return 1
  fi
}
