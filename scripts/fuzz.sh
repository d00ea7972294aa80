#!/usr/bin/env bash
# Builds the libFuzzer targets (the fuzz preset: clang, ASan+UBSan, parsers only) and runs each
# for a bounded time on a scratch copy of its committed seed corpus (fuzz/corpus/NAME/).
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 11: eleven targets in about 121 s)
# A crash leaves its input in build/fuzz/artifacts/ and fails the script; turn the input into a
# regression test under tests/ once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-${STABLELM_FUZZ_SECONDS:-11}}"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"
artifacts="$PWD/build/fuzz/artifacts"
mkdir -p "$artifacts"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
while read -r name; do
  [[ -z "$name" ]] && continue
  mkdir -p "$scratch/$name"
  echo "fuzz $name: ${seconds}s"
  # New inputs go to the scratch corpus; the committed seeds are only read.
  if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "build/fuzz/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$scratch/$name" "fuzz/corpus/$name" \
      >"$scratch/$name.log" 2>&1; then
    tail -n 60 "$scratch/$name.log"
    echo "fuzz $name: FAILED (input saved under $artifacts)"
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$scratch/$name.log" | tail -n 2 || true
  fi
done <build/fuzz/fuzz_targets.txt
exit $status
