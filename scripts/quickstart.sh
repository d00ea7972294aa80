#!/usr/bin/env bash
# Installs the dependencies, builds stablelm, and runs the model card's example:
#   stablelm generate --model stabilityai/stablelm-2-1_6b --prompt "The weather is always wonderful" \
#       --max-new-tokens 64 --temperature 0.7 --top-p 0.95
# Extra arguments are passed to `stablelm generate`; an option given there replaces the default.
#
# --local-hub (first argument): no internet? Serve the tiny fixture model (../shared/fixtures/
# models/tiny-stablelm-2) as stabilityai/stablelm-2-1_6b from the test hub server on 127.0.0.1,
# point HF_ENDPOINT at it and use a throwaway HF_HUB_CACHE. The download path is the real one.
set -euo pipefail
cd "$(dirname "$0")/.."
local_hub=0
if [[ "${1:-}" == "--local-hub" ]]; then local_hub=1; shift; fi

bash scripts/install-deps.sh >/dev/null
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target stablelm-cli >/dev/null

if ((local_hub)); then
  fixtures=${STABLELM_FIXTURES_DIR:-$(pwd)/../shared/fixtures}
  tmp=$(mktemp -d)
  trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
  python3 tests/hub_server.py --repo "stabilityai/stablelm-2-1_6b=$fixtures/models/tiny-stablelm-2" \
    --max-seconds 600 >"$tmp/port" &
  server_pid=$!
  for _ in $(seq 50); do [[ -s "$tmp/port" ]] && break; sleep 0.1; done
  export HF_ENDPOINT="http://127.0.0.1:$(head -1 "$tmp/port")"
  export HF_HUB_CACHE="$tmp/hub"
  echo "serving the tiny fixture model at $HF_ENDPOINT (cache: $HF_HUB_CACHE)" >&2
fi

args=("$@")
has() { local a; for a in "${args[@]}"; do [[ "$a" == "$1" || "$a" == "$1="* ]] && return 0; done; return 1; }
defaults=()
has --model || defaults+=(--model stabilityai/stablelm-2-1_6b)
has --prompt || has --prompt-file || has --ids || defaults+=(--prompt "The weather is always wonderful")
has --max-new-tokens || defaults+=(--max-new-tokens 64)
if ! has --greedy; then
  has --temperature || defaults+=(--temperature 0.7)
  has --top-p || defaults+=(--top-p 0.95)
fi
./build/release/stablelm generate "${defaults[@]}" "${args[@]}"
