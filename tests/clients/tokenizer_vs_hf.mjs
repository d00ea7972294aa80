// Differential test of our tokenizer against Hugging Face tokenizers (the Rust library, through
// its Node binding @anush008/tokenizers) on seeded random adversarial text: every string is
// encoded by both from the same tokenizer.json, special tokens recognised, and the ids must be
// equal. The text mixes what byte-level BPE with Arcade100k's pre-tokenizer regex and NFC finds
// hard: contractions in any case, whitespace runs and line breaks of every kind, digits (Unicode
// ones too), combining marks and NFC compositions, scripts without spaces, emoji sequences,
// zero-width and control characters, special-token text and fragments of it. Then random id lists
// are decoded by both (`stablelm detokenize`, with and without --skip-special).
//   node tokenizer_vs_hf.mjs STABLELM_CLI TOKENIZER_DIR [COUNT] [SEED] [--tiktoken]
// With --tiktoken ours loads TOKENIZER_DIR's arcade100k.tiktoken alone (copied to a temporary
// directory with tokenizer_config.json), HF the tokenizer.json beside it: the two file formats
// must agree (Arcade100k's tiktoken tokenizer NFC-normalizes too, as tokenization_arcade100k.py).
// Exits 77 (ctest's skip) when the npm binding is not installed (scripts/install-test-clients.sh).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
let Tokenizer;
try {
  ({ Tokenizer } = require("@anush008/tokenizers"));
} catch {
  console.log("skipped: @anush008/tokenizers is not installed (scripts/install-test-clients.sh)");
  process.exit(77);
}
const [cli, dir, countArg, seedArg, mode] = process.argv.slice(2);
const count = Number(countArg || 3000);
let state = Number(seedArg || 1) >>> 0 || 1;
const rnd = () => {  // xorshift32: the same strings on every run
  state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0;
  return state / 4294967296;
};
const pick = (a) => a[Math.floor(rnd() * a.length)];
const pieces = [
  "a", "Z", "hello", " world", "The", "don't", "I'M", "'s", "'ll", "'Re", "'", "''", "x'd", " ", "  ", "   ", "\t",
  "\n", "\r\n", "\r", "\n\n", " \n", "\t\n ", "0", "123", "4567", "3.14", "1,000", "-", "--", "...", "!!", "?", "(",
  ")", "{", "}", "[", "]", "<", ">", "|", "/", "\\", "\"", "@", "#", "$", "%", "^", "&", "*", "_", "=", "+", "~", "`",
  "é", "e\u0301", "E\u0301", "ß", "İ", "ı", "ﬁ", "Ω", "\u2126", "ℌ", "Å", "\u212b", "ǅ", "ῼ", "αβγ", "Привет",
  "日本語", "漢字", "한국어", "\u1100\u1161", "مرحبا", "שלום", "हिन्दी", "क़", "ไทย", "ελληνικά", "😀", "👍🏽",
  "👨‍👩‍👧", "🇫🇷", "❤️", "\u00a0", "\u2003", "\u3000", "\u200b", "\u200d", "\ufeff", "\u2028", "\u0085", "\u0000",
  "\u0007", "\u001b", "\u007f", "٣", "４２", "Ａｂ", "①", "½", "²", "𝔘", "𝟘", "\ud800\udc00", "<|endoftext|>",
  "<|im_start|>", "<|im_end|>", "<|endof", "|>", "<|", "def ", "    return x", "\t\tif", "x==y", "a.b()",
  "http://x.y/z?q=1", "user@mail.com", "#include <x>", "\u0301", "\u0300\u0301", "ๆ", "ـ", "ﷺ", "ﹰ",
];
const texts = [];
for (let i = 0; i < count; ++i) {
  let t = "";
  const len = 1 + Math.floor(rnd() * 25);
  for (let k = 0; k < len; ++k) t += pick(pieces);
  texts.push(t);
}
const hf = Tokenizer.fromFile(path.join(dir, "tokenizer.json"));
const want = [];
for (const t of texts) want.push(Array.from((await hf.encode(t, null, { addSpecialTokens: false })).getIds()));

const input = texts.map((text) => JSON.stringify({ text, special: true })).join("\n") + "\n";
let ours = dir;
if (mode === "--tiktoken") {
  ours = fs.mkdtempSync(path.join(os.tmpdir(), "stablelm-tiktoken-"));
  for (const f of ["arcade100k.tiktoken", "tokenizer_config.json"]) fs.copyFileSync(path.join(dir, f), path.join(ours, f));
}
const run = spawnSync(cli, ["tokenize", "--model", ours, "--jsonl"], { input, maxBuffer: 1 << 28 });
process.on("exit", () => { if (ours !== dir) fs.rmSync(ours, { recursive: true }); });
assert.equal(run.status, 0, String(run.stderr));
const got = String(run.stdout).trimEnd().split("\n").map((l) => JSON.parse(l).ids);
assert.equal(got.length, texts.length);
let bad = 0;
for (let i = 0; i < texts.length; ++i) {
  if (JSON.stringify(got[i]) !== JSON.stringify(want[i])) {
    if (++bad <= 5) console.error(JSON.stringify(texts[i]), "\n  hf:  ", JSON.stringify(want[i]), "\n  ours:", JSON.stringify(got[i]));
  }
}
assert.equal(bad, 0, `${bad} of ${texts.length} strings encode differently`);

// Decoding: random id lists (single bytes that make invalid UTF-8, whole tokens, special tokens),
// with and without skipping specials, through `stablelm detokenize`: the same text.
let decoded = 0;
for (let i = 0; i < 40; ++i) {
  const ids = [];
  const len = 1 + Math.floor(rnd() * 12);
  for (let k = 0; k < len; ++k) {
    const r = rnd();
    ids.push(r < 0.5 ? Math.floor(rnd() * 356) : r < 0.8 ? Math.floor(rnd() * 100256) : 100257 + Math.floor(rnd() * 32));
  }
  for (const skip of [false, true]) {
    const wantText = await hf.decode(ids, skip);
    const d = spawnSync(cli, ["detokenize", "--model", ours, "--ids", ids.join(","), ...(skip ? ["--skip-special"] : [])]);
    assert.equal(d.status, 0, String(d.stderr));
    assert.equal(String(d.stdout), wantText, `decode ${JSON.stringify(ids)} skip_special=${skip}`);
    ++decoded;
  }
}
console.log(`tokenizer vs HF tokenizers: ${texts.length} strings encoded and ${decoded} id lists decoded, all equal ` +
            `(${path.basename(dir)}${mode ? " " + mode : ""})`);
