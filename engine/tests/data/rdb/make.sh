#!/bin/sh
# Regenerates the RDB files written by redis-server 7.0.15 from dataset.redis.
# Usage: engine/tests/data/rdb/make.sh [port]   (run from anywhere; needs redis-server 7.0.x)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
port=${1:-7640}
work=$(mktemp -d)
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
python3 "$here/gen_dataset.py" && mv dataset.redis "$here/dataset.redis" 2>/dev/null || true
for variant in compressed plain; do
    compression=yes
    [ "$variant" = plain ] && compression=no
    redis-server --port "$port" --dir "$work" --save "" --appendonly no \
        --rdbcompression "$compression" --daemonize yes --logfile "$work/redis.log"
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
    redis-cli -p "$port" < "$here/dataset.redis" >/dev/null
    redis-cli -p "$port" save >/dev/null
    cp "$work/dump.rdb" "$here/redis-7.0-$variant.rdb"
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    sleep 0.3
done
redis-server --version > "$here/redis-version.txt"
