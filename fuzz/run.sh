#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for FUZZ_SECONDS
# (default 60). The committed corpus fuzz/corpus/<target>/ is read, never written: what a run
# finds goes to build/fuzz/corpus/<target>/, and a crash to build/fuzz/artifacts/ (the run
# then fails). Usage: fuzz/run.sh [target...]   (targets: envelope upcast order_request dlq_headers)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
build=$root/build/fuzz
targets=("$@")
((${#targets[@]})) || targets=(envelope upcast order_request dlq_headers)

cmake -S "$root/fuzz" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" >/dev/null

mkdir -p "$build/artifacts"
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t"
  echo "fuzz: $t for ${seconds}s"
  # leaks are findings too; -timeout catches inputs that hang a parser
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -dict="$root/fuzz/json.dict" -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$t-" "$build/corpus/$t" "$root/fuzz/corpus/$t" \
      2> "$build/$t.log" || { tail -40 "$build/$t.log"; echo "fuzz: $t FAILED (input in $build/artifacts/)"; exit 1; }
  grep -E '^stat::(number_of_executed_units|new_units_added)' "$build/$t.log" | tr '\n' ' '; echo
done
