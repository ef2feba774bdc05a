#!/usr/bin/env bash
# A/B of two server binaries on a shared (noisy) machine: alternates short wrk runs and reports,
# per run, keys/s, p99, errors and the CPU time per request of the server and of wrk
# (bench/helper.py wrk), which is far less sensitive to other load than keys/s is.
#
#   bench/ab.sh BIN_A BIN_B            environment: SIGNER (provider), ROUNDS (3), DUR (5),
#                                      C (16 connections), WRK_ARGS (extra wrk arguments),
#                                      SERVER_EXTRA (lines appended to the config),
#                                      MODE (apikey, or validate: GET /validate, cache hits)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIGNER=${SIGNER:-provider}
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-5}
C=${C:-16}
WORK=$(mktemp -d /tmp/apikey-sts-ab.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
ulimit -n 8192

# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
MODE=${MODE:-apikey}
extra=$(printf '%b' "${SERVER_EXTRA:-}")
[ "$MODE" = validate ] && extra+=$'\n[validator]\nport = 0'
make_config "$SIGNER" "$extra" >"$WORK/conf"

one() {
    "$1" --config "$WORK/conf" 2>"$WORK/log" &
    PID=$!
    local want='listening on https'
    [ "$MODE" = validate ] && want='listening on http:'
    for _ in $(seq 1000); do grep -q "$want" "$WORK/log" && break; sleep 0.01; done
    local port
    port=$(sed -n 's#.*listening on https://127.0.0.1:\([0-9]*\).*#\1#p' "$WORK/log")
    local url=https://127.0.0.1:$port/apikey
    local auth="Authorization: Basic YWRtaW46YWRtaW4="
    if [ "$MODE" = validate ]; then
        auth="apikey: $(python3 "$ROOT/bench/helper.py" get-key 127.0.0.1 "$port")"
        url=http://$(sed -n 's#.*listening on http://\([0-9.:]*\).*#\1#p' "$WORK/log")/validate
    fi
    # shellcheck disable=SC2086
    wrk -t2 -c"$C" -d1s -H "$auth" ${WRK_ARGS:-} "$url" >/dev/null
    local out
    # shellcheck disable=SC2086
    out=$(python3 "$ROOT/bench/helper.py" wrk ab "$PID" -t2 -c"$C" -d"${DUR}s" --latency \
        -H "$auth" ${WRK_ARGS:-} "$url" 2>/dev/null)
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
    val() { echo "$out" | sed -n "s/^BENCH ab\.$1 //p"; }
    printf '%-2s %-40s keys/s %9s  p99 %7s ms  CPU/request: server %6s us, wrk %5s us  errors %s  load %s\n' \
        "$2" "$(basename "$1")" "$(val rps)" "$(val p99)" "$(val server_us)" "$(val client_us)" \
        "$(val errors)" "$(cut -d' ' -f1 /proc/loadavg)"
}

for _ in $(seq "$ROUNDS"); do
    one "$1" A
    one "$2" B
done
