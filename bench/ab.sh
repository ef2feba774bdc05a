#!/usr/bin/env bash
# A/B of two server binaries on a shared (noisy) machine: alternates short wrk runs and reports,
# per run, keys/s and the server's CPU time per request (utime+stime from /proc), which is far
# less sensitive to other load than keys/s is.
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

sed -e 's/host = "0.0.0.0"/host = "127.0.0.1"/' \
    -e 's/httpsPort = 9095/httpsPort = 0/' \
    -e "s#\"security/dev-keystore.p12\"#\"$ROOT/conf/security/dev-keystore.p12\"#" \
    -e "s/^\( *\)validityTime = -1/&\n\1signer = \"$SIGNER\"/" \
    "$ROOT/conf/micro-gw.conf" >"$WORK/conf"
printf '\n[server]\nmaxConnections = 2048\n%b\n' "${SERVER_EXTRA:-}" >>"$WORK/conf"
MODE=${MODE:-apikey}
[ "$MODE" = validate ] && printf '[validator]\nport = 0\n' >>"$WORK/conf"

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
    local before after out
    before=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    # shellcheck disable=SC2086
    out=$(wrk -t2 -c"$C" -d"${DUR}s" --latency -H "$auth" \
        ${WRK_ARGS:-} "$url")
    after=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
    local n rps p99
    n=$(echo "$out" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')
    rps=$(echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p')
    p99=$(echo "$out" | sed -n 's/^ *99% *\(.*\)/\1/p')
    local tck
    tck=$(getconf CLK_TCK)
    printf '%-2s %-40s keys/s %8s  p99 %8s  server CPU/request %6.0f us  load %s\n' \
        "$2" "$(basename "$1")" "$rps" "$p99" \
        "$(echo "($after - $before) * 1000000 / $tck / $n" | bc -l)" \
        "$(cut -d' ' -f1 /proc/loadavg)"
}

for _ in $(seq "$ROUNDS"); do
    one "$1" A
    one "$2" B
done
