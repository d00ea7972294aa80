#!/usr/bin/env bash
# Single-sequence decode of one model, ours beside llama.cpp, in interleaved rounds (run it on a
# quiet machine). Each round prints decode tok/s (median of 2 reps of N tokens) per configuration:
#   new, new with STABLELM_DECODE_STREAMS=4, new at --matmul-precision medium, [old, old medium,]
#   llama.cpp (llama-bench -t 2).
#   MODEL=dir GGUF=file.gguf LLAMA_BENCH=.../llama-bench [OLD=older/stablelm] [NEW=build/release/stablelm]
#   [ROUNDS=3] [N=64] bench/decode_side_by_side.sh
set -euo pipefail
NEW=${NEW:-build/release/stablelm}
ROUNDS=${ROUNDS:-3}
N=${N:-64}
ours() {  # label binary env-assignment [bench args...]
  local label=$1 bin=$2 envs=$3
  shift 3
  local tps
  tps=$(env $envs "$bin" bench --model "$MODEL" -p 0 -n "$N" --reps 2 --threads 2 --json "$@" |
    python3 -c 'import json,sys; print(round(json.loads(sys.stdin.readline())["decode_tok_s"], 2))')
  printf '%s %s | ' "$label" "$tps"
}
for r in $(seq "$ROUNDS"); do
  ours new "$NEW" _=1
  ours new-4streams "$NEW" STABLELM_DECODE_STREAMS=4
  ours new-medium "$NEW" _=1 --matmul-precision medium
  if [[ -n "${OLD:-}" ]]; then
    ours old "$OLD" _=1
    ours old-medium "$OLD" _=1 --matmul-precision medium
  fi
  printf 'llama.cpp %s\n' "$("$LLAMA_BENCH" -m "$GGUF" -p 0 -n "$N" -t 2 -r 2 -o json 2>/dev/null |
    python3 -c 'import json,sys; print(round(json.load(sys.stdin)[0]["avg_ts"], 2))')"
done
