#!/usr/bin/env bash
# Load benchmark of `stablelm serve` beside llama-server on the same weights, in one run
# (docs/PERFORMANCE.md, "Serving under load"). For every concurrency level both servers are started
# fresh with that many slots (--parallel N / -np N), driven by bench/serve_load.py with the same
# requests, then stopped; the order of the two alternates from level to level so neither always runs
# first. The server's peak RSS (VmHWM) is read just before it is stopped.
#
#   OURS_MODEL=/work/models/rand16-q4 PEER_GGUF=/work/peer/gguf/rand16-q4_0-pure.gguf \
#   LLAMA_SERVER=/path/to/llama-server bench/serve_side_by_side.sh
#
# Environment: STABLELM (build/release/stablelm), OURS_ARGS (extra serve options, e.g. "--kv f16"),
# LEVELS (1,4,16,32), PROMPT_TOKENS (128), MAX_TOKENS (128), MIN_REQUESTS (4: requests per level are
# max(MIN_REQUESTS, level)), THREADS (2), SLOT_CTX (context per slot, 512), OUT (a JSON-lines file).
set -euo pipefail
cd "$(dirname "$0")/.."
STABLELM=${STABLELM:-build/release/stablelm}
: "${OURS_MODEL:?set OURS_MODEL to a model directory}"
: "${PEER_GGUF:?set PEER_GGUF to the same weights as GGUF}"
: "${LLAMA_SERVER:?set LLAMA_SERVER to a llama-server binary}"
LEVELS=${LEVELS:-1,4,16,32}
PROMPT_TOKENS=${PROMPT_TOKENS:-128}
MAX_TOKENS=${MAX_TOKENS:-128}
MIN_REQUESTS=${MIN_REQUESTS:-4}
THREADS=${THREADS:-2}
SLOT_CTX=${SLOT_CTX:-512}
OUT=${OUT:-/tmp/serve_side_by_side_$(date -u +%Y%m%dT%H%M%SZ).jsonl}
PORT=${PORT:-18090}
OURS_ARGS=${OURS_ARGS:-}

pid=""
stop_server() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  pid=""
}
trap stop_server EXIT

wait_ready() {
  for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { echo "server exited while loading" >&2; return 1; }
    sleep 0.2
  done
  echo "server not ready after 60 s" >&2
  return 1
}

run_level() {  # $1 = ours|peer, $2 = level
  local who=$1 n=$2 requests log
  requests=$(( n > MIN_REQUESTS ? n : MIN_REQUESTS ))
  log=$(mktemp)
  if [[ $who == ours ]]; then
    # shellcheck disable=SC2086
    "$STABLELM" serve --model "$OURS_MODEL" --port "$PORT" --parallel "$n" --ctx-size "$SLOT_CTX" \
      --threads "$THREADS" --max-queue 1024 $OURS_ARGS >"$log" 2>&1 &
  else
    "$LLAMA_SERVER" -m "$PEER_GGUF" --port "$PORT" -np "$n" -c $(( n * SLOT_CTX )) -t "$THREADS" \
      >"$log" 2>&1 &
  fi
  pid=$!
  wait_ready
  local load_before
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  local row
  row=$(python3 bench/serve_load.py --url "http://127.0.0.1:$PORT" --concurrency "$n" --requests "$requests" \
        --prompt-tokens "$PROMPT_TOKENS" --max-tokens "$MAX_TOKENS" --json)
  local hwm
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  stop_server
  rm -f "$log"
  python3 - "$who" "$hwm" "$load_before" "$row" >>"$OUT" <<'EOF'
import json, sys
who, hwm_kb, load, rows = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4])
for r in rows:
    r.update({"server": who, "peak_rss_mb": hwm_kb / 1024.0, "loadavg_before": load})
    print(json.dumps(r))
EOF
  tail -n 1 "$OUT"
}

echo "# $(date -u +%FT%TZ) ours=$OURS_MODEL ($OURS_ARGS) peer=$PEER_GGUF levels=$LEVELS prompt=$PROMPT_TOKENS max_tokens=$MAX_TOKENS threads=$THREADS" >&2
i=0
for n in ${LEVELS//,/ }; do
  if (( i % 2 == 0 )); then run_level peer "$n"; run_level ours "$n"
  else run_level ours "$n"; run_level peer "$n"; fi
  i=$((i + 1))
done
echo "results: $OUT" >&2
