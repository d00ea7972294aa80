// Peers for scripts/bench-tokenizer.sh: encodes the same text with tiktoken (npm, WASM build of
// OpenAI's Rust tiktoken) loaded from arcade100k.tiktoken with Arcade100k's regex and special
// tokens, and with Hugging Face tokenizers (npm @anush008/tokenizers, a Node binding of the Rust
// library) loaded from tokenizer.json. Prints one JSON line per peer.
//   node bench.js TEXT_FILE ARCADE_DIR [REPS]
"use strict";
const fs = require("fs");
const path = require("path");

const [textFile, arcadeDir, repsArg] = process.argv.slice(2);
const reps = Number(repsArg || 3);
const text = fs.readFileSync(textFile, "utf8");
const mb = Buffer.byteLength(text, "utf8") / 1e6;
const now = () => Number(process.hrtime.bigint()) / 1e9;

// Documents for the batch runs: lines grouped into ~64 KiB pieces, as bench_tokenizer does.
function documents() {
  const docs = [];
  const buf = Buffer.from(text, "utf8");
  let pos = 0;
  while (pos < buf.length) {
    let end = Math.min(buf.length, pos + 65536);
    const nl = buf.indexOf(10, end);
    end = nl < 0 ? buf.length : nl + 1;
    docs.push(buf.subarray(pos, end).toString("utf8"));
    pos = end;
  }
  return docs;
}

const ARCADE_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

async function main() {
  {
    const { Tiktoken } = require("tiktoken/lite");
    const config = JSON.parse(fs.readFileSync(path.join(arcadeDir, "tokenizer_config.json"), "utf8"));
    const specials = {};
    for (const [id, t] of Object.entries(config.added_tokens_decoder)) specials[t.content] = Number(id);
    let t0 = now();
    const enc = new Tiktoken(fs.readFileSync(path.join(arcadeDir, "arcade100k.tiktoken"), "utf8"), specials, ARCADE_PATTERN);
    const loadMs = (now() - t0) * 1e3;
    let best = Infinity, tokens = 0;
    for (let r = 0; r < reps; r++) {
      t0 = now();
      tokens = enc.encode(text, "all").length;
      best = Math.min(best, now() - t0);
    }
    console.log(JSON.stringify({ peer: "tiktoken (npm, WASM)", load_ms: loadMs, tokens, encode_mb_s: mb / best }));
    enc.free();
  }
  {
    const { Tokenizer } = require("@anush008/tokenizers");
    let t0 = now();
    const tok = Tokenizer.fromFile(path.join(arcadeDir, "tokenizer.json"));
    const loadMs = (now() - t0) * 1e3;
    let best = Infinity, tokens = 0;
    for (let r = 0; r < reps; r++) {
      t0 = now();
      const e = await tok.encode(text, null, { addSpecialTokens: false });
      tokens = e.getLength();
      best = Math.min(best, now() - t0);
    }
    const docs = documents();
    let bestBatch = Infinity;
    for (let r = 0; r < reps; r++) {
      t0 = now();
      await tok.encodeBatch(docs, { addSpecialTokens: false });
      bestBatch = Math.min(bestBatch, now() - t0);
    }
    console.log(JSON.stringify({ peer: "HF tokenizers (npm @anush008/tokenizers)", load_ms: loadMs, tokens,
                                 encode_mb_s: mb / best, batch_mb_s: mb / bestBatch }));
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
