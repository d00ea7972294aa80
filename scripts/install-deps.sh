#!/usr/bin/env bash
# Installs every build and test dependency of stablelm.cpp from Debian's packages.
# Idempotent: skips apt entirely when everything is already present.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config git
  nlohmann-json3-dev       # JSON (config.json, safetensors headers, tokenizer.json, CLI output)
  libcurl4-openssl-dev     # HTTP for the Hugging Face hub client
  libssl-dev               # sha256 for download verification
  libcli11-dev             # command-line parsing
  libutf8proc-dev          # Unicode NFC + general categories for the tokenizer
  libpcre2-dev             # generic regex pre-tokenizers from tokenizer.json
  libcpp-httplib-dev       # HTTP server of `stablelm serve`
  curl                     # the server tests' SSE framing check
  nodejs chromium          # the server client tests: the openai npm client (npm comes with nodejs 20 here), headless Chromium for the web page
  libgtest-dev libgmock-dev libbenchmark-dev
  python3                  # the hub test server (http.server, stdlib only)
  python3-jinja2           # the reference for chat templates (tests/chat/gen_constructs.py)
  python3-jsonschema       # the reference validator for JSON Schema output (tests/sampling/schema_vs_jsonschema.py)
  libedit-dev              # line editing and history in `stablelm chat` on a terminal
  clang libclang-rt-14-dev # libFuzzer (-fsanitize=fuzzer) for scripts/fuzz.sh
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "dependencies ok"
