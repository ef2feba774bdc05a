#!/usr/bin/env bash
# Runs one fuzz target for a bounded time:
#   fuzz/run.sh TARGET [SECONDS] [extra libFuzzer flags...]
# e.g. fuzz/run.sh fuzz_http_request 1200 -jobs=1
#
# Seeds (corpus_seed/TARGET) and saved findings (regressions/TARGET) are copied into the working
# corpus corpus/TARGET (gitignored), which libFuzzer grows; crashes land in artifacts/TARGET.
# Environment: CARGO_TARGET_DIR (default: cargo-fuzz's fuzz/target), SANITIZER (default: address;
# `none` runs about twice as fast: the library itself forbids unsafe code), FUZZ_TIMEOUT (seconds
# per input before libFuzzer calls it a hang).
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh TARGET [SECONDS] [libFuzzer flags...]}
secs=${2:-600}
shift
[ $# -gt 0 ] && shift

# Per-target dictionary and input size bound.
dict=""
max_len=8192
timeout=10
case "$target" in
    fuzz_http_request | fuzz_http_roundtrip) dict=dict/http.dict ;;
    fuzz_http_structured) max_len=4096 ;;
    fuzz_http_conn) dict=dict/http.dict; max_len=8192 ;;
    fuzz_config) dict=dict/toml.dict; max_len=16384 ;;
    fuzz_basic_auth) max_len=8192 ;;
    fuzz_jwt_verify) dict=dict/jwt.dict; max_len=9000 ;;
    fuzz_jwt_roundtrip) max_len=2048 ;;
    fuzz_validity_body) dict=dict/json.dict; max_len=4096 ;;
    fuzz_issue_body) dict=dict/json.dict; max_len=4096 ;;
    # checks.rs ignores keystore inputs over 16 KiB; PBKDF with up to the loader's 10M
    # iteration cap takes seconds, so give each input longer.
    fuzz_keystore) max_len=16384; timeout=60 ;;
    fuzz_pem) max_len=16384 ;;
    fuzz_revocation_log) max_len=8192 ;;
    fuzz_revoke_body) dict=dict/json.dict; max_len=9000 ;;
    fuzz_validator_request) dict=dict/http.dict; max_len=9000 ;;
    # The longest header is 2,064 bytes (proxy_protocol::MAX_HEADER_BYTES); room to go past it.
    fuzz_proxy_protocol) max_len=4096 ;;
    fuzz_feed_record) max_len=512 ;;
    fuzz_token_form) max_len=4096 ;;
    *) echo "unknown target $target (see fuzz/Cargo.toml)" >&2; exit 2 ;;
esac
timeout=${FUZZ_TIMEOUT:-$timeout}

mkdir -p "corpus/$target" "artifacts/$target"
cp -n "corpus_seed/$target"/* "corpus/$target"/ 2>/dev/null || true
if [ -d "regressions/$target" ]; then
    cp -n "regressions/$target"/* "corpus/$target"/ 2>/dev/null || true
fi

flags=(-max_total_time="$secs" -max_len="$max_len" -timeout="$timeout" -print_final_stats=1)
[ -n "$dict" ] && flags+=(-dict="$dict")

export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
set -x
exec cargo fuzz run --sanitizer "${SANITIZER:-address}" "$target" "corpus/$target" \
    -- "${flags[@]}" -artifact_prefix="artifacts/$target/" "$@"
