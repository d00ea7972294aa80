#!/usr/bin/env bash
# Installs the npm test clients (the official `openai` client and playwright-core for the server
# tests, Hugging Face tokenizers' Node binding for the tokenizer's differential test; pinned in
# tests/clients/package.json) into tests/clients/node_modules (gitignored). Needs Node 20 + npm
# (Debian: nodejs npm). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../tests/clients"
if ! command -v npm >/dev/null; then
  echo "install-test-clients: npm not found (apt-get install nodejs npm)" >&2
  exit 1
fi
if [[ -d node_modules/openai && -d node_modules/playwright-core && -d node_modules/@anush008/tokenizers ]]; then
  echo "test clients ok"
  exit 0
fi
npm install --no-audit --no-fund --silent
echo "test clients ok"
