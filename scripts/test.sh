#!/usr/bin/env bash
# The whole test suite: warnings-as-errors release build + tests, then an ASan+UBSan build + tests,
# then the fuzz targets for a bounded time (scripts/fuzz.sh, about 90 s; docs/RELIABILITY.md).
# Usage: scripts/test.sh [--fast]   (--fast skips the sanitizer run and the fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
# The server's npm test clients (openai, playwright-core); their tests skip when npm cannot fetch them.
bash scripts/install-test-clients.sh || echo "warning: npm test clients not installed; their server tests will skip" >&2
jobs=$(nproc)
cmake --preset ci >/dev/null
cmake --build --preset ci -j "$jobs"
ctest --preset ci
if [[ "${1:-}" != "--fast" ]]; then
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j "$jobs"
  ctest --preset asan
  bash scripts/fuzz.sh
fi
