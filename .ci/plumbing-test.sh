#!/usr/bin/env bash
# Tests .ci/run's own plumbing: a failing step must make the whole run exit non-zero.
#
# .ci/run is copied into a scratch tree next to the real fuzz/ci.sh, with stand-ins for the slow
# parts (cargo, rustup, the smoke test, the fuzzer runner). Each scenario breaks one step; the
# baseline breaks none and must pass, so a harness that always fails cannot pass this test.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# $1: scenario name. Builds a fresh tree and runs .ci/run in it; prints its exit code.
run_scenario() {
    local tree="$scratch/$1" bin="$scratch/$1-bin"
    mkdir -p "$tree/.ci" "$tree/tests" "$tree/fuzz/fuzz_targets" "$bin"
    cp "$here/.ci/run" "$tree/.ci/run"
    cp "$here/fuzz/ci.sh" "$tree/fuzz/ci.sh"
    printf '#!/bin/sh\nexit 0\n' > "$tree/.ci/plumbing-test.sh"
    printf '#!/bin/sh\nexit 0\n' > "$tree/.ci/curl-smoke.sh"
    printf '#!/bin/sh\nexit 0\n' > "$tree/tests/install-tools.sh"
    printf '#!/bin/sh\nexit 0\n' > "$tree/fuzz/run.sh"
    touch "$tree/fuzz/fuzz_targets/fuzz_a.rs" "$tree/fuzz/fuzz_targets/fuzz_b.rs"
    # Stand-in cargo: every subcommand succeeds; `cargo fuzz list` names both targets.
    cat > "$bin/cargo" <<'SH'
#!/bin/sh
if [ "$1 $2" = "fuzz list" ]; then
    [ -n "${FAKE_EMPTY_FUZZ_LIST:-}" ] || printf 'fuzz_a\nfuzz_b\n'
    exit 0
fi
if [ "$1" = test ] && [ -n "${FAKE_TESTS_FAIL:-}" ]; then exit 101; fi
exit 0
SH
    printf '#!/bin/sh\nexit 0\n' > "$bin/rustup"
    chmod +x "$bin/cargo" "$bin/rustup"
    case "$1" in
        baseline) ;;
        install-tools-fails) printf '#!/bin/sh\nexit 1\n' > "$tree/tests/install-tools.sh" ;;
        tests-fail) export FAKE_TESTS_FAIL=1 ;;
        smoke-fails) printf '#!/bin/sh\nexit 1\n' > "$tree/.ci/curl-smoke.sh" ;;
        empty-fuzz-list) export FAKE_EMPTY_FUZZ_LIST=1 ;;
        fuzz-target-fails) printf '#!/bin/sh\nexit 1\n' > "$tree/fuzz/run.sh" ;;
    esac
    local rc=0
    PATH="$bin:$PATH" bash "$tree/.ci/run" >"$scratch/$1.log" 2>&1 || rc=$?
    unset FAKE_TESTS_FAIL FAKE_EMPTY_FUZZ_LIST
    echo "$rc"
}

failed=0
rc=$(run_scenario baseline)
if [ "$rc" -ne 0 ]; then
    echo "plumbing-test: baseline exited $rc, expected 0"; cat "$scratch/baseline.log"; failed=1
fi
for s in install-tools-fails tests-fail smoke-fails empty-fuzz-list fuzz-target-fails; do
    rc=$(run_scenario "$s")
    if [ "$rc" -eq 0 ]; then
        echo "plumbing-test: $s: .ci/run exited 0"; cat "$scratch/$s.log"; failed=1
    else
        echo "plumbing-test: $s: exit $rc (good)"
    fi
done
exit $failed
