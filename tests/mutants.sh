#!/usr/bin/env bash
# Mutation testing of the security-critical modules with cargo-mutants: each mutant is a small
# deliberate bug (a condition inverted, a result replaced by a default, ...); a mutant that no
# test notices is a bug the suite would miss. Results and the explanation of every survivor are
# in tests/MUTANTS.md.
#
#   bash tests/mutants.sh                 # every module below, the whole test suite per mutant
#   bash tests/mutants.sh src/throttle.rs # one file
#   SCOPE=lib bash tests/mutants.sh ...   # unit tests only (minutes instead of hours)
#   MUTANTS_ARGS="--in-place" ...         # more cargo-mutants options
#
# Not part of .ci/run: on 2 cores a module takes minutes to an hour. Output: mutants.out/
# (gitignored), with caught.txt, missed.txt, timeout.txt and unviable.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo mutants --version >/dev/null 2>&1; then
    echo "tests/mutants.sh: installing cargo-mutants"
    cargo install cargo-mutants --locked
fi

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
    files=(
        src/auth.rs
        src/throttle.rs
        src/jwt
        src/strict_json.rs
        src/revocation
        src/http
        src/keystore.rs
        src/validator
    )
fi

args=()
for f in "${files[@]}"; do
    if [ -d "$f" ]; then
        args+=(--file "$f/**/*.rs")
    else
        args+=(--file "$f")
    fi
done

scope_args=()
if [ "${SCOPE:-all}" = lib ]; then
    # `--lib` on every cargo call, the build included: a mutant then rebuilds and relinks only
    # the library's test binary, not the dozen e2e binaries it would not run.
    scope_args=(--cargo-arg=--lib)
fi

# One build at a time (2 cores); a generous timeout, since the e2e tests start real processes.
# MUTANTS_ARGS passes more options, such as the keystore's function filter:
#   MUTANTS_ARGS="--re keystore.rs:.*(verify_mac|mac_matches|decrypt)" bash tests/mutants.sh src/keystore.rs
# Split into words but never globbed (a regex holds `*`).
set -f
# shellcheck disable=SC2086 # MUTANTS_ARGS is a list of words
exec cargo mutants --no-shuffle --timeout-multiplier 3 "${scope_args[@]}" ${MUTANTS_ARGS:-} "${args[@]}"
