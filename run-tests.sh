#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs what is missing (apt), checks
# formatting, builds and tests the release build, builds and tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer, and runs every fuzz target briefly.
# Exits non-zero on any failure. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
start=$(date +%s)

scripts/install-deps.sh
scripts/check-format.sh

summary=()
run_ctest() {  # run_ctest BUILD_DIR LABEL
  local log
  log=$(mktemp)
  if ! (cd "$1" && ctest --output-on-failure -j2 --timeout 900) 2>&1 | tee "$log"; then :; fi
  local line
  line=$(grep -E "tests passed, [0-9]+ tests failed out of" "$log" | tail -1)
  rm -f "$log"
  [[ -n $line ]] || { echo "run-tests: ctest in $1 printed no result" >&2; exit 1; }
  summary+=("$2: $line")
  local passed failed
  failed=$(sed -E 's/.*passed, ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.*failed out of ([0-9]+).*/\1/' <<<"$line")
  passed=$((total - failed))
  all_passed=$((all_passed + passed)); all_failed=$((all_failed + failed))
  if [[ $failed != 0 ]]; then
    echo "run-tests: $failed test(s) failed in $1" >&2
    echo "tests: $all_passed passed, $all_failed failed"
    exit 1
  fi
}
all_passed=0; all_failed=0

scripts/build.sh release
run_ctest build release
scripts/build.sh asan
# The sanitized build runs every test too, with an eighth of the consensus schedules and a
# quarter of the other random sequences: its job is memory and undefined-behaviour errors on every
# code path, which the first seeds already reach, while the release build above covers the full
# seed space (200 consensus schedules per scenario, 2,000 ledger sequences, 200 SIGKILLs of the
# store writer). At -O0 under ASan the full space alone took about 4 of the suite's 14-28 minutes;
# 50 schedules still took the n=7 Byzantine scenario 78 s in a slow hour (2026-12-06).
ERTR_SIM_SEEDS=${ERTR_SIM_SEEDS:-25} ERTR_LEDGER_SEQUENCES=${ERTR_LEDGER_SEQUENCES:-500} \
  ERTR_CRASH_KILLS=${ERTR_CRASH_KILLS:-50} \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp run_ctest build-asan asan+ubsan
# Each fuzz target for 10 s from its corpus: a smoke run that every parser still holds (longer
# runs: docs/fuzzing.md).
scripts/fuzz.sh "${ERTR_FUZZ_SECONDS:-10}"

# An independent implementation of docs/spec/crypto.md (JavaScript) checks our test vectors.
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
interop=$(node tests/interop/verify_spec.mjs) || { echo "$interop"; echo "run-tests: interop check failed" >&2; exit 1; }
line=$(tail -1 <<<"$interop")
summary+=("$line")
n=$(sed -E 's/interop: ([0-9]+) passed, ([0-9]+) failed/\1/' <<<"$line")
all_passed=$((all_passed + n))

# An end-to-end step: runs the command with its output in LOG; on failure prints the log's tail
# and stops with the failure counted. Usage: step NAME LOG COMMAND...
step() {
  local name=$1 log=$2
  shift 2
  if "$@" >"$log" 2>&1; then
    summary+=("$name: 1 passed, 0 failed")
    all_passed=$((all_passed + 1))
  else
    tail -80 "$log"
    echo "run-tests: $name failed (log: $log)" >&2
    echo "tests: $all_passed passed, $((all_failed + 1)) failed"
    exit 1
  fi
}

# A few seconds of ertr-bench (closed and open loop, restart, a killed primary and null modes), only
# to prove the load generator works; its figures are not checked (benchmarks are never timed
# assertions; a killed primary's successor must commit within 60 s, or the run fails).
bench_smoke() {
  build/bench/ertr-bench --ertrd build/node/ertrd --mode closed --concurrency 4 --seconds 3 &&
    build/bench/ertr-bench --ertrd build/node/ertrd --mode open --rate 20 --concurrency 8 --seconds 3 &&
    build/bench/ertr-bench --ertrd build/node/ertrd --mode restart --concurrency 4 --seconds 3 &&
    build/bench/ertr-bench --ertrd build/node/ertrd --mode closed --concurrency 4 --seconds 3 \
      --kill-primary &&
    build/bench/ertr-bench --ertrd build/node/ertrd --mode null --concurrency 200 --call-batch 50 \
      --block-size 100 --seconds 3
}

# The main job's scenario, end to end (the same script ./run-demo.sh runs after building).
step demo build/demo.log scripts/demo.sh build/node/ertrd build/cli/ertrctl
# An independent client of the API (Node.js, examples/js) against a live 4-node testnet.
step "js example" build/js-example.log examples/js/run-against-testnet.sh build/node/ertrd build/cli/ertrctl
step "ertr-bench smoke" build/bench-smoke.log bench_smoke
# A short chaos scenario (docs/reliability.md): a minute of seeded faults under load, then every
# acknowledged record must be on every node with equal state roots (a failure prints its --seed).
step chaos build/chaos.log tests/chaos/run

printf '%s\n' "${summary[@]}"
echo "run-tests: finished in $(( $(date +%s) - start ))s"
echo "tests: $all_passed passed, $all_failed failed"
