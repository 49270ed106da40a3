#!/usr/bin/env bash
# tls.sh — a redis-server speaking only TLS on this machine's loopback, with its own CA: for
# trying a partition on `rediss://` by hand, and for the CI suite that needs one.
#
# Usage:
#   ops/deploy/tls.sh up [--dir D] [--port P] [--auth-clients optional|yes|no] [--sentinel-port S]
#   ops/deploy/tls.sh down [--dir D]
#
#   --dir D            certificates, keys, the server's files, log and pid (default /tmp/tradestate-tls)
#   --port P           the TLS port (default 7400); the plain port is off (--port 0)
#   --auth-clients A   the server's --tls-auth-clients: "optional" (default: a client
#                      certificate is checked when presented), "yes" (required) or "no"
#   --sentinel-port S  also a sentinel on TLS port S (tls-replication yes: TLS to the server
#                      too) watching the server as master "tls", for rediss+sentinel://
#
# `up` generates with openssl, in D:
#   ca.pem, ca.key           a CA (10 days), the one to give as tls_ca_file
#   server.pem, server.key   the server's certificate, for 127.0.0.1, ::1 and localhost (also
#                            good as a client's, as redis-server and sentinels present it when
#                            they connect out with tls-replication yes)
#   client.pem, client.key   a client certificate signed by the same CA (tls_cert_file, tls_key_file)
#   other-ca.pem             a CA that signed nothing here, for seeing a wrong CA refused
# starts the server (AOF on, as a partition's server should be) and prints:
#   url rediss://127.0.0.1:P
#   ca_file D/ca.pem
#   cert_file D/client.pem
#   key_file D/client.key
#   other_ca_file D/other-ca.pem
#   sentinel_url rediss+sentinel://127.0.0.1:S/tls     (with --sentinel-port)
# once it (and the sentinel, seeing the master) answers over TLS (at most 10 s each).
# Needs openssl, redis-server and redis-cli built with TLS (Debian's are:
# apt-get install -y openssl redis-server redis-tools).
set -euo pipefail

die() { echo "tls.sh: $*" >&2; exit 1; }

cmd=${1:-}
[ -n "$cmd" ] || die "usage: tls.sh up|down [options]"
shift
dir=/tmp/tradestate-tls
port=7400
auth_clients=optional
sentinel_port=
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --auth-clients) auth_clients=$2; shift 2 ;;
    --sentinel-port) sentinel_port=$2; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
case "$auth_clients" in
  optional | yes | no) ;;
  *) die "--auth-clients takes optional, yes or no, not $auth_clients" ;;
esac

command -v openssl >/dev/null || die "'openssl' not found (apt-get install -y openssl)"
# shellcheck source=ops/deploy/common.sh
. "$(dirname "$0")/common.sh"

# A CA: $1 = file stem, $2 = subject name.
ca() {
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/$1.key" -out "$dir/$1.pem" -days 10 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
}

# A certificate signed by the CA: $1 = file stem, $2 = subject name, $3 = extensions.
leaf() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/$1.key" -out "$dir/$1.csr" -subj "/CN=$2" 2>/dev/null
  printf '%s\n' "$3" >"$dir/$1.ext"
  openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -out "$dir/$1.pem" -days 10 -extfile "$dir/$1.ext" 2>/dev/null
  rm -f "$dir/$1.csr" "$dir/$1.ext"
}

# What redis-cli needs to talk to the server (or, with -p, another port).
cli() {
  redis-cli --tls --cacert "$dir/ca.pem" --cert "$dir/client.pem" --key "$dir/client.key" \
    -h 127.0.0.1 -p "$port" "$@"
}

# A sentinel on TLS port $sentinel_port watching the server as master "tls".
sentinel() {
  local conf="$dir/sentinel.conf"
  {
    echo "port 0"
    echo "tls-port $sentinel_port"
    echo "bind 127.0.0.1"
    echo "tls-cert-file $dir/server.pem"
    echo "tls-key-file $dir/server.key"
    echo "tls-ca-cert-file $dir/ca.pem"
    echo "tls-auth-clients $auth_clients"
    echo "tls-replication yes"
    echo "daemonize yes"
    echo "pidfile $dir/sentinel.pid"
    echo "logfile $dir/sentinel.log"
    echo "dir $dir"
    echo "sentinel monitor tls 127.0.0.1 $port 1"
  } >"$conf"
  if command -v redis-sentinel >/dev/null; then
    redis-sentinel "$conf"
  else
    redis-server "$conf" --sentinel
  fi
  for _ in $(seq 100); do
    cli -p "$sentinel_port" sentinel master tls 2>/dev/null | grep -qx master && return 0
    sleep 0.1
  done
  die "the sentinel on TLS port $sentinel_port does not see the master (log: $dir/sentinel.log)"
}

case "$cmd" in
  down)
    down
    ;;
  up)
    down
    mkdir -p "$dir/data"
    rm -rf "${dir:?}/data"/*
    ca ca "tradestate test CA"
    ca other-ca "tradestate unrelated CA"
    rm -f "$dir/other-ca.key"
    leaf server "tradestate test server" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"
    leaf client "tradestate test client" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
    chmod 600 "$dir"/*.key
    redis-server --port 0 --tls-port "$port" --bind 127.0.0.1 \
      --tls-cert-file "$dir/server.pem" --tls-key-file "$dir/server.key" \
      --tls-ca-cert-file "$dir/ca.pem" --tls-auth-clients "$auth_clients" \
      --save "" --appendonly yes --appendfsync everysec --dir "$dir/data" \
      --enable-debug-command local --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 100); do
      [ "$(cli ping 2>/dev/null)" = PONG ] && break
      sleep 0.1
    done
    [ "$(cli ping 2>/dev/null)" = PONG ] || die "the server on TLS port $port did not start (log: $dir/redis.log)"
    echo "url rediss://127.0.0.1:$port"
    echo "ca_file $dir/ca.pem"
    echo "cert_file $dir/client.pem"
    echo "key_file $dir/client.key"
    echo "other_ca_file $dir/other-ca.pem"
    if [ -n "$sentinel_port" ]; then
      sentinel
      echo "sentinel_url rediss+sentinel://127.0.0.1:$sentinel_port/tls"
    fi
    ;;
  *)
    die "unknown command $cmd (up or down)"
    ;;
esac
