#!/usr/bin/env bash
# CI smoke fuzzing: builds every target and runs each for FUZZ_SECONDS (default 20) seconds,
# one after the other (one fuzzer process at a time). Exits non-zero if a build fails or any
# target finds a crash, a hang or an out-of-memory input (kept in fuzz/artifacts/TARGET/).
#   bash fuzz/ci.sh            # all targets, 20 s each
#   FUZZ_SECONDS=60 bash fuzz/ci.sh fuzz_http_request fuzz_keystore
set -euo pipefail
cd "$(dirname "$0")"
secs=${FUZZ_SECONDS:-20}
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/ci.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# Every file in fuzz_targets/ is a target; `cargo fuzz list` must name each one. A failing or
# empty list would otherwise "run all 0 targets without findings".
expected=$(find fuzz_targets -maxdepth 1 -name '*.rs' | wc -l)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    listed=$(cargo fuzz list)
    mapfile -t targets < <(printf '%s\n' "$listed" | sed '/^$/d')
    if [ "$expected" -eq 0 ] || [ ${#targets[@]} -ne "$expected" ]; then
        echo "fuzz/ci.sh: cargo fuzz list named ${#targets[@]} targets; fuzz_targets/ has $expected"
        exit 1
    fi
fi

echo "fuzz/ci.sh: building ${#targets[@]} targets"
cargo fuzz build --sanitizer "${SANITIZER:-address}"

failed=()
for t in "${targets[@]}"; do
    echo "== fuzz $t ($secs s)"
    mkdir -p artifacts
    log="artifacts/$t.log"
    if bash ./run.sh "$t" "$secs" >"$log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)|#[0-9]+ +DONE' "$log" || true
        echo "fuzz/ci.sh: $t ok"
    else
        tail -n 60 "$log"
        echo "fuzz/ci.sh: $t FAILED (log above; input in fuzz/artifacts/$t/)"
        failed+=("$t")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz/ci.sh: ${#failed[@]} target(s) failed: ${failed[*]}"
    exit 1
fi
echo "fuzz/ci.sh: all ${#targets[@]} targets ran $secs s without findings"
