#!/usr/bin/env bash
# Runs every libFuzzer target from build-asan/ (scripts/build.sh asan) for SECONDS each (default
# 20; CI smoke). Long runs: scripts/fuzz.sh 3600. Corpora: tests/fuzz/corpus/<target>/ (seeds,
# committed) and build-asan/fuzz-corpus/<target>/ (what the fuzzer finds, not committed).
# Runs one target per core at a time ($ERTR_FUZZ_JOBS to change); fails if any target crashed,
# after the others ended; the crashing input is saved under build-asan/fuzz-crashes/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
bin=build-asan/tests/fuzz
mkdir -p build-asan/fuzz-crashes
# The targets are the tests/fuzz/fuzz_*.cc sources (not whatever binaries a build dir holds).
targets=$(cd tests/fuzz && ls fuzz_*.cc | sed 's/\.cc$//')
for t in $targets; do
  [[ -x $bin/$t ]] || { echo "fuzz: $bin/$t is not built; run scripts/build.sh asan" >&2; exit 1; }
done

fuzz_one() {  # fuzz_one TARGET: its log in build-asan/fuzz-TARGET.log, its exit status in .rc
  local t=$1 work=build-asan/fuzz-corpus/$1 seeds=tests/fuzz/corpus/$1 rc=0
  mkdir -p "$work"
  "$bin/$t" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=build-asan/fuzz-crashes/"$t"- -print_final_stats=1 \
    "$work" $( [[ -d $seeds ]] && echo "$seeds" ) >"build-asan/fuzz-$t.log" 2>&1 || rc=$?
  echo "$rc" >"build-asan/fuzz-$t.rc"
  grep -E "stat::number_of_executed_units" "build-asan/fuzz-$t.log" | sed "s/^/fuzz: $t /" || true
}

jobs_max=${ERTR_FUZZ_JOBS:-$(nproc)}
for t in $targets; do
  rm -f "build-asan/fuzz-$t.rc"
  while (($(jobs -rp | wc -l) >= jobs_max)); do wait -n || true; done
  echo "fuzz: $t for ${seconds}s"
  fuzz_one "$t" &
done
wait

failed=()
for t in $targets; do
  if [[ $(cat "build-asan/fuzz-$t.rc" 2>/dev/null) != 0 ]]; then
    tail -40 "build-asan/fuzz-$t.log" >&2
    echo "fuzz: $t FAILED; input saved in build-asan/fuzz-crashes/" >&2
    failed+=("$t")
  fi
done
((${#failed[@]} == 0)) || { echo "fuzz: ${#failed[@]} target(s) crashed: ${failed[*]}" >&2; exit 1; }
echo "fuzz: all targets ran ${seconds}s without a crash"
