#!/usr/bin/env bash
# The quality table of docs/PERFORMANCE.md for one model: every weight and KV format against the
# f32 base (weights f32, KV f32), with `stablelm perplexity --save-logits` / `--kl-divergence`.
#
#   scripts/quality-table.sh NAME MODEL_DIR [perplexity input and window options...]
#   e.g. scripts/quality-table.sh rand16 /work/models/rand16-f32 \
#            --tokenizer ../shared/fixtures/arcade100k --file text.txt --ctx 512 --stride 512
#
# Prints one markdown row per format. Environment:
#   STABLELM        the binary (default build/release/stablelm)
#   THREADS         --threads (default 2)
#   TOP_K           --save-logits-top-k of the base (default 64)
#   MODEL_BF16, MODEL_Q8, MODEL_Q4   pre-converted directories of the same model to use instead
#                   of converting MODEL_DIR at load (`stablelm quantize` output, a bf16 copy)
set -euo pipefail
[[ $# -ge 2 ]] || { sed -n '2,14p' "$0"; exit 2; }
name=$1 dir=$2
shift 2
bin=${STABLELM:-build/release/stablelm}
threads=${THREADS:-2}
top_k=${TOP_K:-64}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() { "$bin" perplexity --threads "$threads" --json "$@" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }; }

base_json=$(run --model "$dir" --weights f32 --kv f32 "$@" --save-logits "$tmp/base.bin" --save-logits-top-k "$top_k")

row() {  # label, json
  python3 - "$1" "$name" "$2" <<'PY'
import json, sys
label, name, j = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
g = lambda k, f: format(j[k], f)
if "kld_mean" in j:
    cells = [g("ppl", ".4g"), g("ppl_ratio", ".5f"), g("kld_mean", ".3g") + " ± " + g("kld_stderr", ".2g"),
             g("kld_q99", ".3g"), g("same_top_pct", ".2f"), g("dp_rms", ".3g"), g("base_rest_mass_mean", ".3f")]
else:
    cells = [g("ppl", ".4g"), "1 (base)", "", "", "", "", ""]
print("| " + " | ".join([name, label] + cells + [str(j["tokens"]), g("tokens_per_second", ".1f")]) + " |")
PY
}

echo "| model | format | PPL | PPL ratio | mean KLD | KLD q99 | same top % | RMS Δp % | base mass outside top $top_k | tokens | tok/s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
row "f32 (base)" "$base_json"
cmp() { run "$@" --kl-divergence "$tmp/base.bin"; }
row "f32" "$(cmp --model "$dir" --weights f32 "$@")"
if [[ -n ${MODEL_BF16:-} ]]; then bf16=(--model "$MODEL_BF16"); else bf16=(--model "$dir" --weights bf16); fi
row "bf16" "$(cmp "${bf16[@]}" "$@")"
row "bf16, matmul medium" "$(cmp "${bf16[@]}" --matmul-precision medium "$@")"
row "f16" "$(cmp --model "$dir" --weights f16 "$@")"
if [[ -n ${MODEL_Q8:-} ]]; then q8=(--model "$MODEL_Q8"); else q8=(--model "$dir" --weights q8); fi
row "q8" "$(cmp "${q8[@]}" "$@")"
if [[ -n ${MODEL_Q4:-} ]]; then q4=(--model "$MODEL_Q4"); else q4=(--model "$dir" --weights q4); fi
row "q4" "$(cmp "${q4[@]}" "$@")"
for kv in f16 bf16 q8; do
  row "KV $kv" "$(cmp --model "$dir" --weights f32 --kv "$kv" "$@")"
done
