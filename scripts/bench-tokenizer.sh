#!/usr/bin/env bash
# Tokenizer throughput beside its peers, on the same text in one run:
#   ours (bench_tokenizer: tokenizer.json with NFC, and arcade100k.tiktoken),
#   tiktoken (npm, WASM) and Hugging Face tokenizers (npm @anush008/tokenizers).
# The npm peers are installed into bench/peers/tokenizer/node_modules (gitignored).
# Usage: scripts/bench-tokenizer.sh [TEXT_FILE] [REPS]     (default: fixtures' bench.txt, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
fixtures=${STABLELM_FIXTURES_DIR:-$root/../shared/fixtures}
text=${1:-$fixtures/tokenizer/bench.txt}
reps=${2:-3}
build=${BUILD_DIR:-build/bench-tokenizer}

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTABLELM_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target bench_tokenizer >/dev/null
(cd bench/peers/tokenizer && { [[ -d node_modules/tiktoken && -d node_modules/@anush008/tokenizers ]] ||
  npm ci --no-audit --no-fund --loglevel=error >/dev/null; })

out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (before); text: $text ($(stat -c %s "$text") bytes)"
"$build/bench/bench_tokenizer" --json --reps "$reps" --text "$text" \
  --model "$fixtures/arcade100k/tokenizer.json" --model "$fixtures/arcade100k/arcade100k.tiktoken" >>"$out"
node bench/peers/tokenizer/bench.js "$text" "$fixtures/arcade100k" "$reps" >>"$out"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) (after)"
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
tik = next(r for r in rows if r.get("peer", "").startswith("tiktoken"))["encode_mb_s"]
print(f"| tokenizer | load ms | tokens | 1-thread MB/s | × tiktoken | batch MB/s (threads) |")
print(f"|---|---|---|---|---|---|")
for r in rows:
    name = r.get("peer") or ("stablelm.cpp " + r["model"].split("/")[-1])
    batch = f'{r["batch_mb_s"]:.2f}' + (f' ({r["batch_threads"]})' if "batch_threads" in r else " (rayon)") if "batch_mb_s" in r else "—"
    print(f'| {name} | {r["load_ms"]:.0f} | {r["tokens"]} | {r["encode_mb_s"]:.2f} | {r["encode_mb_s"] / tik:.1f}× | {batch} |')
PY
