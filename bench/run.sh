#!/usr/bin/env bash
# The benchmark: builds the release binary, measures the in-process ceilings, drives temporary
# servers (one per column, on ephemeral loopback ports) with wrk, measures memory and startup,
# and prints one table, then the targets' ratios with PASS or MISS. See bench/README.md for
# what each row means.
#
# Environment: DUR (seconds per wrk run, default 10), WARM (warm-up seconds, default 2),
# SIGN_SECS (seconds per in-process measurement, default 2), CONNS (idle connections for the
# RSS row, default 1000), SIGNERS (the columns, default "rsa provider"), CARGO_TARGET_DIR
# (default: target/), OUT (also write the table there).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUR=${DUR:-10}
WARM=${WARM:-2}
CONNS=${CONNS:-1000}
export SIGN_SECS=${SIGN_SECS:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release/apikey-sts
HELPER=$ROOT/bench/helper.py
AUTH="Authorization: Basic YWRtaW46YWRtaW4="

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
# 1,000 held connections plus wrk's need more descriptors than the usual 1024.
ulimit -n 8192

WORK=$(mktemp -d /tmp/apikey-sts-bench.XXXXXX)
RES=$WORK/results
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -s "$WORK/ngx/nginx.pid" ] && kill "$(cat "$WORK/ngx/nginx.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

note() { echo "== $*" >&2; }
meta() { echo "BENCH $1 $2" >>"$RES"; }

cd "$ROOT"
meta commit "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo +dirty)"
meta date "$(date -u +%Y-%m-%dT%H:%MZ)"
meta load_before "$(cut -d' ' -f1-3 /proc/loadavg)"
meta wrk "-t2,${DUR}s"
meta conns "$CONNS"

# The table's columns, one server each. ALGORITHMS PLUG IN HERE: a column for another algorithm
# (es256, eddsa, ps256-provider, ...) is a name in SIGNERS and its server config in
# `column_config` (bench/algorithms.sh has each algorithm's keystore and `algorithm`);
# bench/signing.rs already measures its in-process signature (`sign.<column>.1` and `.all`).
# The report takes its columns from this list.
SIGNERS=${SIGNERS:-rsa provider}
meta columns "$SIGNERS"

note "building (release)"
cargo build --release --quiet
cargo bench --bench signing --no-run --quiet 2>/dev/null

note "in-process ceilings (${SIGN_SECS}s each)"
cargo bench --bench signing --quiet 2>/dev/null | tee /dev/stderr | grep '^BENCH' >>"$RES"

cp "$BIN" "$WORK/stripped" && strip "$WORK/stripped"
meta binary_bytes "$(stat -c %s "$WORK/stripped")"

# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"

# column_config COLUMN EXTRA: the server config of a column (see SIGNERS); EXTRA is appended.
column_config() {
    case "$1" in
        rsa | provider) make_config "$1" "$2" ;;
        *) echo "no config for column $1 (bench/run.sh column_config)" >&2; exit 1 ;;
    esac
}

# Starts a server on config $1 (log $1.log); sets HTTPS_PORT, VAL_PORT and SERVER_PID.
start_server() {
    "$BIN" --config "$1" 2>"$1.log" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for _ in $(seq 500); do
        if grep -q 'listening on https://' "$1.log"; then break; fi
        sleep 0.01
    done
    HTTPS_PORT=$(sed -n 's#.*listening on https://127.0.0.1:\([0-9]*\).*#\1#p' "$1.log")
    VAL_PORT=$(sed -n 's#.*listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$1.log")
    [ -n "$HTTPS_PORT" ] || { cat "$1.log" >&2; exit 1; }
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

# bracket LABEL KEYS...: measures the in-process ceilings KEYS again, now, as LABEL.KEY. This VM's
# speed drifts by tens of percent within minutes (other tenants), so each ratio is taken against
# ceilings measured right before and right after its own wrk run.
bracket() {
    local label=$1
    shift
    BENCH_ONLY=$(IFS=,; echo "$*") cargo bench --bench signing --quiet 2>/dev/null |
        sed -n "s/^BENCH \([^ ]*\) /BENCH $label.\1 /p" | grep -v '\.cores ' >>"$RES"
}

# run_wrk LABEL CONNECTIONS URL [wrk args...]
run_wrk() {
    local label=$1 c=$2 url=$3
    shift 3
    wrk -t2 -c"$c" -d"${WARM}s" "$@" "$url" >/dev/null
    note "$label: wrk -t2 -c$c -d${DUR}s $(printf '%s ' "$@" | cut -c1-80)"
    python3 "$HELPER" wrk "$label" "$SERVER_PID" -t2 -c"$c" -d"${DUR}s" --latency "$@" "$url" \
        2>"$WORK/$label.wrk" >>"$RES"
    grep "^BENCH $label" "$RES" | sed 's/^/   /' >&2
}

# Reference points: nginx with OpenSSL serving a static file of about a key's size, with the same
# certificate, wrk and connection counts, no signature at all (rows 2 and 3); and nginx answering
# `return 200` on plain HTTP, the floor for the validator's hot path (row 4). Two workers, one
# per core of the development VM, access log off.
NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
NGX_PLAIN=
if [ -n "$NGINX" ]; then
    mkdir -p "$WORK/ngx"
    openssl pkcs12 -in conf/security/dev-keystore.p12 -passin pass:ballerina -nodes \
        -out "$WORK/ngx/dev.pem" 2>/dev/null
    head -c 900 /dev/zero | tr '\0' a >"$WORK/ngx/key.txt"
    # nginx started as root serves as "nobody".
    chmod o+x "$WORK" "$WORK/ngx" && chmod o+r "$WORK/ngx/key.txt"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    plain_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >"$WORK/ngx/nginx.conf" <<EOF
worker_processes 2;
pid $WORK/ngx/nginx.pid;
error_log $WORK/ngx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  ssl_session_cache shared:SSL:1m;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $WORK/ngx/dev.pem;
    ssl_certificate_key $WORK/ngx/dev.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { root $WORK/ngx; try_files /key.txt =404; }
  }
  server {
    listen 127.0.0.1:$plain_port;
    location / { return 200; }
  }
}
EOF
    "$NGINX" -c "$WORK/ngx/nginx.conf" -p "$WORK/ngx" -e "$WORK/ngx/error.log"
    for _ in $(seq 500); do [ -s "$WORK/ngx/nginx.pid" ] && break; sleep 0.01; done
    sleep 0.2
    NGX_PIDS=$(pgrep -d, -P "$(cat "$WORK/ngx/nginx.pid")")
    NGX_PLAIN=http://127.0.0.1:$plain_port/
    SERVER_PID=$NGX_PIDS
    run_wrk ngx.ka 16 "https://127.0.0.1:$port/"
    run_wrk ngx.close 16 "https://127.0.0.1:$port/" -H "Connection: close"
else
    note "no nginx: the reference rows are skipped (apt-get install -y nginx-light)"
fi

HAS_VALIDATOR=0
grep -q '"/validate"' src/plain_listener.rs 2>/dev/null && HAS_VALIDATOR=1

for s in $SIGNERS; do
    cfg=$WORK/$s.conf
    column_config "$s" "" >"$cfg"
    start_server "$cfg"
    url=https://127.0.0.1:$HTTPS_PORT/apikey
    run_wrk "ka2.$s" 2 "$url" -H "$AUTH"
    for c in 16 64; do
        bracket "ka$c.$s.before" "sign.$s.all"
        run_wrk "ka$c.$s" "$c" "$url" -H "$AUTH"
        bracket "ka$c.$s.after" "sign.$s.all"
    done
    bracket "close.$s.before" "sign.$s.all" tls.full.all tls.resumed.all
    run_wrk "close.$s" 16 "$url" -H "$AUTH" -H "Connection: close"
    bracket "close.$s.after" "sign.$s.all" tls.full.all tls.resumed.all
    stop_server
done

if [ "$HAS_VALIDATOR" = 1 ]; then
    for mode in hit miss log; do
        # A miss verifies the signature on every request: the cache is off. `log` is a cache
        # hit with every answer logged, to show what the default (refusals only) saves.
        extra=$'[validator]\nport = 0'
        [ "$mode" = miss ] && extra+=$'\ncacheMaxEntries = 0'
        [ "$mode" = log ] && extra+=$'\naccessLog = "all"'
        cfg=$WORK/val-$mode.conf
        make_config provider "$extra" >"$cfg"
        start_server "$cfg"
        key=$(python3 "$HELPER" get-key 127.0.0.1 "$HTTPS_PORT")
        val_pid=$SERVER_PID
        # The cache-hit rate is a ratio to nginx's `return 200` under the same wrk, measured
        # right before and right after it (the VM's speed drifts).
        if [ "$mode" = hit ] && [ -n "$NGX_PLAIN" ]; then
            SERVER_PID=$NGX_PIDS
            run_wrk ngx200.before 16 "$NGX_PLAIN"
            SERVER_PID=$val_pid
        fi
        run_wrk "val.$mode" 16 "http://127.0.0.1:$VAL_PORT/validate" -H "apikey: $key"
        if [ "$mode" = hit ] && [ -n "$NGX_PLAIN" ]; then
            SERVER_PID=$NGX_PIDS
            run_wrk ngx200.after 16 "$NGX_PLAIN"
            SERVER_PID=$val_pid
        fi
        stop_server
    done
else
    note "no validator in this build: row 4 skipped"
fi
if [ -n "$NGINX" ]; then
    "$NGINX" -c "$WORK/ngx/nginx.conf" -p "$WORK/ngx" -e "$WORK/ngx/error.log" -s stop
fi

# Keep-alive issuance per signing algorithm (RS256, PS256, ES256, EdDSA), one server each, in
# this run: its own script, so that it can also run alone. The table's last part reports them.
note "keep-alive issuance per algorithm"
BIN=$BIN DUR=$DUR WARM=$WARM bash "$ROOT/bench/algorithms.sh" 2>/dev/null |
    grep '^BENCH' >>"$RES"

# Revocations: the file log, then (with redis-server) the Redis store on two nodes. The bundled
# admin has apikey:admin, so it may revoke by jti.
cfg=$WORK/rev-file.conf
make_config provider "" |
    sed "s#file = \"revocations.log\"#file = \"$WORK/rev-file.log\"#" >"$cfg"
start_server "$cfg"
note "revocations/s, file log"
python3 "$HELPER" revoke-rate rev.file.1 "$HTTPS_PORT" 1 "$DUR" >>"$RES"
python3 "$HELPER" revoke-rate rev.file.8 "$HTTPS_PORT" 8 "$DUR" >>"$RES"
stop_server

REDIS=$(command -v redis-server || ls /usr/bin/redis-server 2>/dev/null || true)
if [ -n "$REDIS" ]; then
    rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$WORK/redis"
    "$REDIS" --port "$rport" --bind 127.0.0.1 --dir "$WORK/redis" --appendonly yes \
        --appendfsync always --save "" --daemonize no --logfile redis.log &
    PIDS+=("$!")
    for _ in $(seq 500); do
        python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$rport)); s.sendall(b'PING\r\n'); sys.exit(s.recv(7)!=b'+PONG\r\n')" 2>/dev/null && break
        sleep 0.01
    done
    redis_config() {
        make_config provider $'[validator]\nport = 0' |
            sed "s#file = \"revocations.log\"#file = \"$WORK/snap-$1\"\n  store = \"redis\"\n  redisUrl = \"redis://127.0.0.1:$rport/0\"#"
    }
    redis_config a >"$WORK/node-a.conf"
    redis_config b >"$WORK/node-b.conf"
    start_server "$WORK/node-a.conf"
    A_PID=$SERVER_PID A_HTTPS=$HTTPS_PORT
    start_server "$WORK/node-b.conf"
    B_PID=$SERVER_PID B_VAL=$VAL_PORT
    note "propagation A -> B (200 revocations), revocations/s with Redis"
    python3 "$HELPER" propagation prop "$A_HTTPS" "$B_VAL" 200 >>"$RES"
    python3 "$HELPER" revoke-rate rev.redis.1 "$A_HTTPS" 1 "$DUR" >>"$RES"
    python3 "$HELPER" revoke-rate rev.redis.8 "$A_HTTPS" 8 "$DUR" >>"$RES"
    key=$(python3 "$HELPER" get-key 127.0.0.1 "$A_HTTPS")
    SERVER_PID=$B_PID
    run_wrk val.redis 16 "http://127.0.0.1:$B_VAL/validate" -H "apikey: $key"
    kill "$A_PID" "$B_PID" 2>/dev/null || true
    wait "$A_PID" "$B_PID" 2>/dev/null || true
else
    note "no redis-server: the Redis rows are skipped (tests/install-tools.sh installs it)"
    meta redis "skipped: no redis-server (tests/install-tools.sh installs it)"
fi

for s in $SIGNERS; do
    cfg=$WORK/mem-$s.conf
    column_config "$s" "" >"$cfg"
    note "memory and startup, signer=$s ($CONNS connections)"
    python3 "$HELPER" memory "mem.$s" "$BIN" "$cfg" "$CONNS" >>"$RES"
done

meta load_after "$(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 "$HELPER" report "$RES" | tee "${OUT:-/dev/null}"
