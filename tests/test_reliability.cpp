// Hostile inputs and faults (issue 16, docs/RELIABILITY.md): each class of defect has several
// cases here; every case must end in a clear stablelm::Error (or "error: ..." and a non-zero
// exit from the CLI), never a crash, a hang or a silent wrong result.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "io/json.h"
#include "io/safetensors.h"
#include "io/mapped_file.h"
#include "stablelm/check_finite.h"
#include "stablelm/config.h"
#include "stablelm/error.h"
#include "stablelm/generate.h"
#include "stablelm/tokenizer.h"
#include "testutil.h"

namespace stablelm::test {
namespace {
namespace fs = std::filesystem;

fs::path tiny() { return fixtures_dir() / "models" / "tiny-stablelm-2"; }

// A copy of the tiny model (weights linked, not copied) that a test may damage.
fs::path model_copy(const std::string& tag) {
  fs::path d = temp_dir(tag);
  for (auto& e : fs::directory_iterator(tiny())) {
    if (!e.is_regular_file()) continue;
    if (e.path().filename() == "model.safetensors") fs::create_symlink(e.path(), d / e.path().filename());
    else fs::copy_file(e.path(), d / e.path().filename());
  }
  return d;
}

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// The message of the Error that f throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ---- class 1: nesting depth and bounded excerpts ---------------------------------------------

TEST(JsonDepth, LimitIsEnforcedAndTheFileNamed) {
  EXPECT_NO_THROW(io::parse_json("{\"a\": " + nested(io::kMaxJsonDepth - 1) + "}", "x.json"));
  const std::string msg = error_of([] { io::parse_json(nested(io::kMaxJsonDepth + 1), "x.json"); });
  EXPECT_NE(msg.find("x.json: JSON nested deeper than 128 levels"), std::string::npos) << msg;
  // Brackets inside strings do not count; escaped quotes do not end a string.
  EXPECT_NO_THROW(io::parse_json("[\"" + std::string(1000, '[') + "\\\"[[\"]", "s.json"));
  // Syntax errors are bounded even when the bad token is huge.
  const std::string bad = error_of([] { io::parse_json("[\"" + std::string(1 << 20, 'x'), "big.json"); });
  EXPECT_NE(bad.find("big.json: not valid JSON"), std::string::npos);
  EXPECT_LT(bad.size(), 1000u);
}

TEST(JsonDepth, DeepValuesInEveryModelFileAreErrors) {
  const fs::path d = model_copy("deep");
  const std::string deep = nested(200000);  // the 200 KB value that overflowed the stack
  EXPECT_NE(error_of([&] { ModelConfig::parse("{\"x\": " + deep + "}", "config.json"); }).find("config.json: JSON nested deeper"),
            std::string::npos);
  // A deep value where the error message used to print it.
  EXPECT_NE(error_of([&] { ModelConfig::parse("{\"hidden_size\": " + deep + "}", "config.json"); }).find("nested deeper"),
            std::string::npos);
  write_file(d / "generation_config.json", "{\"temperature\": " + deep + "}");
  EXPECT_NE(error_of([&] { GenerationConfig::load(d / "generation_config.json"); }).find("generation_config.json: JSON nested deeper"),
            std::string::npos);
  std::string tj = read_file(tiny() / "tokenizer.json");
  tj.insert(tj.find('{') + 1, "\"x\": " + deep + ", ");
  write_file(d / "tokenizer.json", tj);
  EXPECT_NE(error_of([&] { Tokenizer::from_dir(d); }).find("tokenizer.json: JSON nested deeper"), std::string::npos);
  // The same from the CLI: a clean error, not a signal.
  write_file(d / "config.json", "{\"x\": " + deep + "}");
  CommandResult r = run_cli({"logits", "--model", d.string(), "--ids", "1,2"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("error: " + (d / "config.json").string() + ": JSON nested deeper"), std::string::npos) << r.err;
}

TEST(JsonDepth, JsonlLinesAndSafetensorsHeaders) {
  CommandResult r = run_cli({"tokenize", "--model", tiny().string(), "--jsonl"},
                            "{\"text\": \"a\"}\n{\"text\": \"b\", \"x\": " + nested(100000) + "}\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("stdin line 2: JSON nested deeper"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "the first line's ids are written: " << r.out;

  const fs::path d = model_copy("deep-st");
  fs::remove(d / "model.safetensors");
  const std::string h = "{\"x\": " + nested(50000) + "}";
  std::string file(8, '\0');
  const uint64_t n = h.size();
  std::memcpy(file.data(), &n, 8);
  write_file(d / "model.safetensors", file + h);
  r = run_cli({"logits", "--model", d.string(), "--ids", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("safetensors header: JSON nested deeper"), std::string::npos) << r.err;
}

TEST(JsonDepth, ErrorMessagesPrintBoundedExcerpts) {
  const std::string big(1 << 20, 'x');
  std::string msg = error_of([&] { ModelConfig::parse("{\"hidden_size\": \"" + big + "\"}", "config.json"); });
  EXPECT_NE(msg.find("\"hidden_size\" must be an integer"), std::string::npos) << msg;
  EXPECT_LT(msg.size(), 500u);
  const fs::path d = temp_dir("excerpt");
  std::string arr = "[";
  for (int i = 0; i < 100000; ++i) arr += (i ? ",1" : "1");
  write_file(d / "generation_config.json", "{\"top_k\": " + arr + "]}");
  msg = error_of([&] { GenerationConfig::load(d / "generation_config.json"); });
  EXPECT_NE(msg.find("\"top_k\" must be"), std::string::npos) << msg;
  EXPECT_LT(msg.size(), 500u);
  EXPECT_EQ(io::json_excerpt(nlohmann::json::parse("[1,2]")), "[1,2]");
}

// ---- class 3: only regular files are read ----------------------------------------------------

// The CLI under a 30 s timeout (exit 124 = it hung).
CommandResult cli_bounded(const std::string& args, const std::string& stdin_text = "") {
  return run_shell("timeout 30 " + std::string(STABLELM_CLI) + " " + args, stdin_text);
}

TEST(RegularFiles, FifosAreRefusedByNameInsteadOfBlocking) {
  for (const char* name : {"config.json", "generation_config.json", "tokenizer.json", "model.safetensors"}) {
    const fs::path d = model_copy("fifo");
    fs::remove(d / name);
    ASSERT_EQ(::mkfifo((d / name).c_str(), 0644), 0);
    const std::string cmd = std::string(name) == "tokenizer.json" ? "tokenize --text hi" : "generate --ids 1,2 --max-new-tokens 1";
    CommandResult r = cli_bounded(cmd + " --model " + d.string());
    EXPECT_EQ(r.exit_code, 1) << name << ": " << r.err;
    EXPECT_NE(r.err.find("error: " + (d / name).string() + ": is a FIFO"), std::string::npos) << r.err;
  }
  const fs::path d = temp_dir("fifo-prompt");
  ASSERT_EQ(::mkfifo((d / "p").c_str(), 0644), 0);
  CommandResult r = cli_bounded("generate --model " + tiny().string() + " --prompt-file " + (d / "p").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: --prompt-file " + (d / "p").string() + ": is a FIFO"), std::string::npos) << r.err;
}

TEST(RegularFiles, DirectoriesAreNamedAsDirectories) {
  for (const char* name : {"config.json", "generation_config.json", "tokenizer.json", "model.safetensors"}) {
    const fs::path d = model_copy("dir");
    fs::remove(d / name);
    fs::create_directory(d / name);
    const std::string cmd = std::string(name) == "tokenizer.json" ? "tokenize --text hi" : "generate --ids 1,2 --max-new-tokens 1";
    CommandResult r = cli_bounded(cmd + " --model " + d.string());
    EXPECT_EQ(r.exit_code, 1) << name;
    EXPECT_NE(r.err.find("error: " + (d / name).string() + ": is a directory"), std::string::npos) << r.err;
  }
  CommandResult r = cli_bounded("generate --model " + tiny().string() + " --prompt-file " + tiny().string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: --prompt-file " + tiny().string() + ": is a directory"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("basic_filebuf"), std::string::npos) << r.err;
}

TEST(RegularFiles, SymlinksToRegularFilesStillWork) {
  const fs::path d = model_copy("link");  // model.safetensors is a symlink
  fs::rename(d / "config.json", d / "real-config.json");
  fs::create_symlink(d / "real-config.json", d / "config.json");
  CommandResult r = cli_bounded("generate --ids 1,2 --max-new-tokens 1 --print-ids --model " + d.string());
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// ---- class 4: safetensors headers with many tensors parse in linear time ----------------------

// A safetensors file of n one-float tensors t000000.., with optional damage to the header.
std::string many_tensors(int n, const std::string& extra_entry = "", int64_t shift_last = 0) {
  nlohmann::json h = nlohmann::json::object();
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "t%06d", i);
    const int64_t b = 4 * i + (i == n - 1 ? shift_last : 0);
    h[name] = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {b, b + 4}}};
  }
  std::string text = h.dump();
  if (!extra_entry.empty()) text.insert(text.size() - 1, "," + extra_entry);
  std::string file(8, '\0');
  const uint64_t len = text.size();
  std::memcpy(file.data(), &len, 8);
  return file + text + std::string(static_cast<size_t>(4 * n), '\0');
}

TEST(SafetensorsScale, SixtyThousandTensorsLoad) {
  // 47 s before (nlohmann's callback parser rescanned the object per entry), ~0.3 s now; the
  // 120 s limit only catches a return of the quadratic behaviour, it times nothing.
  const fs::path d = model_copy("many");
  fs::remove(d / "model.safetensors");
  write_file(d / "model.safetensors", many_tensors(60000));
  CommandResult r = run_shell("timeout 120 " + std::string(STABLELM_CLI) + " logits --ids 1 --model " + d.string());
  EXPECT_EQ(r.exit_code, 1) << r.err;  // parsed whole, then the model's tensors are missing
  EXPECT_NE(r.err.find("missing tensor model.embed_tokens.weight"), std::string::npos) << r.err;
  io::SafetensorsFile f(d / "model.safetensors");
  EXPECT_EQ(f.tensors().size(), 60000u);
  ASSERT_NE(f.find("t059999"), nullptr);
  EXPECT_EQ(f.find("t059999")->offset, f.find("t000000")->offset + 4 * 59999);
}

TEST(SafetensorsScale, DefectsAmongManyTensorsAreStillFound) {
  const fs::path d = temp_dir("many-bad");
  // A duplicate name at the very end.
  write_file(d / "dup.safetensors",
             many_tensors(20000, "\"t000007\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}"));
  EXPECT_NE(error_of([&] { io::SafetensorsFile f(d / "dup.safetensors"); }).find("tensor t000007 appears twice"),
            std::string::npos);
  // The last tensor overlapping its neighbour.
  write_file(d / "overlap.safetensors", many_tensors(20000, "", -2));
  EXPECT_NE(error_of([&] { io::SafetensorsFile f(d / "overlap.safetensors"); }).find("overlap tensor t019998"),
            std::string::npos);
  // A header length beyond what the file holds.
  std::string f = many_tensors(10);
  const uint64_t huge = 72u << 20;
  std::memcpy(f.data(), &huge, 8);
  write_file(d / "long.safetensors", f);
  EXPECT_NE(error_of([&] { io::SafetensorsFile x(d / "long.safetensors"); }).find("runs past the end of the file"),
            std::string::npos);
}

// ---- class 2: refused threads are an error or fewer threads, never std::terminate -------------

// ASan reserves terabytes of address space, so an address-space limit cannot be used there.
bool sanitized() { return std::getenv("STABLELM_SANITIZED") != nullptr; }

// An address-space limit refuses threads only when each stack takes a known share of it: the
// soft stack limit sets glibc's default thread stack, and a CI shell may have a small one (with
// 256 KB stacks all the threads fit in 2 GB). The shell prefix that pins both.
constexpr const char* kTightAddressSpace = "ulimit -s 8192 && ulimit -v 2000000 && ";
bool can_pin_stack_size() { return run_shell("ulimit -s 8192").exit_code == 0; }

TEST(Threads, APoolTheSystemRefusesIsAnErrorNamingTheCount) {
  if (sanitized()) GTEST_SKIP() << "ulimit -v does not work under ASan";
  if (!can_pin_stack_size()) GTEST_SKIP() << "the hard stack limit is below 8 MB";
  // 2 GB of address space: room for the model and a few hundred 8 MB thread stacks, not 10000.
  for (const char* cmd : {"logits --ids 1,2", "generate --ids 1,2 --max-new-tokens 1", "score --ids 1,2 --continuation 3"}) {
    CommandResult r = run_shell(kTightAddressSpace + std::string(STABLELM_CLI) + " " + cmd + " --threads 10000 --model " +
                                tiny().string());
    EXPECT_EQ(r.exit_code, 1) << cmd << ": " << r.err;
    EXPECT_NE(r.err.find("error: cannot start 10000 threads: the system allowed only "), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
  }
}

TEST(Threads, TokenizeJsonlGoesOnWithTheThreadsItGot) {
  if (sanitized()) GTEST_SKIP() << "ulimit -v does not work under ASan";
  if (!can_pin_stack_size()) GTEST_SKIP() << "the hard stack limit is below 8 MB";
  std::string lines;
  // A 4 MiB block of short lines asks for ~2000 threads (one per 64 lines), which stay busy
  // until the block is done.
  for (int i = 0; i < 64 * 3000; ++i) lines += "{\"text\": \"hello world " + std::to_string(i) + "\"}\n";
  const std::string cli = std::string(STABLELM_CLI) + " tokenize --jsonl --model " + tiny().string();
  CommandResult one = run_shell(cli + " --threads 1", lines);
  // The last stack that fits leaves almost no address space: the encoding must still find some.
  CommandResult many = run_shell(kTightAddressSpace + cli + " --threads 10000", lines);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(std::count(one.out.begin(), one.out.end(), '\n'), 64 * 3000);
  EXPECT_EQ(many.exit_code, 0) << many.err;
  EXPECT_NE(many.err.find("warning: --threads 10000: the system allowed only "), std::string::npos) << many.err;
  EXPECT_EQ(many.out, one.out);
}

// ---- class 6: failures are reported as failures ----------------------------------------------

const std::string& cli() {
  static const std::string c = STABLELM_CLI;
  return c;
}

TEST(ReportedFailures, StdoutWriteErrorsAreErrors) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const std::string m = " --model " + tiny().string();
  for (const std::string& cmd : {"tokenize --text hello" + m, "logits --ids 1,2,3" + m, "detokenize --ids 1,2,3" + m,
                                "generate --ids 1,2 --max-new-tokens 3 --print-ids" + m,
                                "generate --ids 1,2 --max-new-tokens 30" + m}) {
    // run_shell redirects stdout itself: the inner shell's redirection is the one that counts.
    CommandResult r = run_shell("sh -c '" + cli() + " " + cmd + " >/dev/full'");
    EXPECT_EQ(r.exit_code, 1) << cmd;
    EXPECT_NE(r.err.find("error: cannot write the output to stdout"), std::string::npos) << cmd << ": " << r.err;
    r = run_shell("sh -c '" + cli() + " " + cmd + " >&-'");  // stdout closed
    EXPECT_EQ(r.exit_code, 1) << cmd;
    EXPECT_NE(r.err.find("error: cannot write the output to stdout"), std::string::npos) << cmd << ": " << r.err;
  }
  // A reader that goes away is a quiet end, not an error.
  CommandResult r = run_shell("bash -c '" + cli() + " logits --ids 1,2,3 --model " + tiny().string() +
                              " | head -c 1 >/dev/null; echo status ${PIPESTATUS[0]}'");
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
}

TEST(ReportedFailures, FailedStdinReadsAreErrorsNotEmptyPrompts) {
  const std::string gen = cli() + " generate --max-new-tokens 2 --model " + tiny().string();
  CommandResult r = run_shell("sh -c '" + gen + " <&-'");  // stdin closed: model.safetensors was read as the prompt
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: cannot read the prompt from stdin"), std::string::npos) << r.err;
  r = run_shell("sh -c '" + gen + " < " + tiny().string() + "'");  // stdin is a directory
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: cannot read the prompt from stdin: Is a directory"), std::string::npos) << r.err;
  r = run_shell("sh -c '" + cli() + " tokenize --jsonl --model " + tiny().string() + " <&-'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: cannot read stdin"), std::string::npos) << r.err;
}

TEST(ReportedFailures, QuantizingAQuantizedModelIsRefused) {
  const fs::path d = temp_dir("requant");
  CommandResult r = run_cli({"quantize", "--model", tiny().string(), "--weights", "q8", (d / "q8").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* w : {"q4", "q8"}) {
    r = run_cli({"quantize", "--model", (d / "q8").string(), "--weights", w, (d / "again").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("is already quantized"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(d / "again"));
  }
}

TEST(ReportedFailures, MakeRandomKeepsExistingModelsAndRemovesPartialOutput) {
  const fs::path d = model_copy("mr");
  fs::remove(d / "model.safetensors");
  fs::copy_file(tiny() / "model.safetensors", d / "model.safetensors");
  const std::string before = read_file(d / "model.safetensors");
  const std::string cfg = (tiny() / "config.json").string();
  CommandResult r = run_cli({"make-random", "--config", cfg, "--dtype", "f32", d.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("the directory is not empty"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(d / "model.safetensors"), before);
  r = run_cli({"make-random", "--config", cfg, "--dtype", "f32", "--force", d.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_file(d / "model.safetensors"), before);

  // A full disk: the first failed write stops it, and nothing half-written stays behind.
  if (run_shell("unshare -m true").exit_code != 0) GTEST_SKIP() << "no mount namespaces here";
  const fs::path mnt = temp_dir("mr-full");
  r = run_shell("unshare -m sh -c 'mount -t tmpfs -o size=1m tmpfs " + mnt.string() + " && " + cli() +
                " make-random --like stablelm-2-1_6b --layers 1 " + mnt.string() + "/out; echo files: $(ls " +
                mnt.string() + "/out)'");
  if (r.err.find("mount:") != std::string::npos) GTEST_SKIP() << r.err;
  EXPECT_NE(r.err.find("model.safetensors: write failed: No space left on device"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("files:\n"), std::string::npos) << r.out;
}

TEST(ReportedFailures, RegexEngineLimitsAreErrorsNotEmptyIds) {
  const fs::path d = model_copy("regex");
  auto tj = nlohmann::json::parse(read_file(d / "tokenizer.json"));
  // Catastrophic backtracking: PCRE2 stops at its match limit.
  tj["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(a+)+$|\\s+";
  write_file(d / "tokenizer.json", tj.dump());
  const std::string text = std::string(40, 'a') + "!";
  EXPECT_NE(error_of([&] { Tokenizer::from_dir(d)->encode(text); }).find("the pre-tokenizer's regex failed"),
            std::string::npos);
  CommandResult r = run_cli({"tokenize", "--model", d.string(), "--text", text});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("match limit"), std::string::npos) << r.err;
}

// ---- class 7: non-finite numbers are errors -----------------------------------------------------

// A copy of the tiny model whose final LayerNorm weight holds `bits` (a NaN or Inf pattern).
fs::path poisoned_model(const std::string& tag, uint16_t bf16_bits) {
  const fs::path d = model_copy(tag);
  fs::remove(d / "model.safetensors");
  std::string bytes = read_file(tiny() / "model.safetensors");
  {
    io::SafetensorsFile f(tiny() / "model.safetensors");
    const io::TensorInfo* t = f.find("model.norm.weight");
    EXPECT_NE(t, nullptr);
    EXPECT_EQ(t->dtype, io::DType::BF16);
    std::memcpy(bytes.data() + t->offset, &bf16_bits, 2);
  }
  write_file(d / "model.safetensors", bytes);
  return d;
}

TEST(NonFinite, LogitsScoreAndGenerateRefuseNaNAndInf) {
  for (uint16_t bits : {uint16_t{0x7fc0}, uint16_t{0x7f80}}) {  // bf16 NaN, +Inf
    const fs::path d = poisoned_model("nan", bits);
    for (const char* cmd : {"logits --ids 1,2,3", "logits --ids 1,2,3 --positions last",
                                  "score --ids 1,2 --continuation 3,4", "generate --ids 1,2 --max-new-tokens 2",
                                  "generate --ids 1,2 --max-new-tokens 2 --do-sample --seed 1"}) {
      CommandResult r = run_shell(cli() + " " + std::string(cmd) + " --model " + d.string());
      EXPECT_EQ(r.exit_code, 1) << cmd << ": " << r.out;
      EXPECT_NE(r.err.find("non-finite numbers; check them"), std::string::npos) << cmd << ": " << r.err;
      EXPECT_EQ(r.out.find("null"), std::string::npos) << cmd;
      EXPECT_EQ(r.err.find("all scores are -inf"), std::string::npos) << cmd;
    }
  }
  std::vector<float> rows(2 * 10, 0.0f);
  rows[10 + 7] = std::nanf("");
  const std::string msg = error_of([&] { check_finite_logits(rows, 10, "test", 5); });
  EXPECT_NE(msg.find("test: the logits at position 6 hold NaN (token id 7)"), std::string::npos) << msg;
  rows[10 + 7] = -INFINITY;
  EXPECT_NE(error_of([&] { check_finite_logits(rows, 10, "t"); }).find("hold -Inf"), std::string::npos);
}

TEST(NonFinite, ATinyTemperatureIsTheGreedyLimit) {
  // T -> 0 is argmax: with T = 1e-45 every positive logit used to overflow to +inf and share the
  // mass. Greedy and T = 1e-45 must now agree (for any seed).
  const std::string base = cli() + " generate --ids 1,2,3 --max-new-tokens 8 --print-ids --model " + tiny().string();
  CommandResult greedy = run_shell(base + " --greedy");
  ASSERT_EQ(greedy.exit_code, 0) << greedy.err;
  for (const char* seed : {"1", "2", "3"}) {
    CommandResult tiny_t = run_shell(base + " --do-sample --temperature 1e-45 --seed " + seed);
    EXPECT_EQ(tiny_t.exit_code, 0) << tiny_t.err;
    EXPECT_EQ(tiny_t.out, greedy.out) << "seed " << seed;
  }
}

// ---- class 8: numbers out of range are refused where they enter ---------------------------------

TEST(Ranges, CountsSeedsAndIdsAreChecked) {
  const std::string m = " --model " + tiny().string();
  struct Case {
    std::string args, expect;
  } cases[] = {
      {"generate --ids 1,2 --max-new-tokens 9223372036854775807" + m, "--max-new-tokens: 9223372036854775807 is larger than the limit 1073741824"},
      {"generate --ids 1,2 --max-new-tokens 1073741824" + m, "exceeds max_position_embeddings"},
      {"generate --ids 1,2 --min-new-tokens 99999999999999999999" + m, "--min-new-tokens: 99999999999999999999 is larger than the limit"},
      {"generate --ids 1,2 --seed 18446744073709551616" + m, "--seed: 18446744073709551616 is larger than the largest allowed value 18446744073709551615"},
      {"generate --ids 1,2 --eos-id 16777215" + m, "--eos-id 16777215 is outside the vocabulary"},
      {"bench -n 99999999999999 -p 0" + m, "--n-gen: 99999999999999 is larger than the limit 1073741824"},
      {"bench -p 9223372036854775807 -n 0" + m, "--n-prompt: 9223372036854775807 is larger than the limit"},
      {"bench -n 1 -p 0 --depth 9223372036854775807" + m, "--depth 9223372036854775807: must be in [0, 1073741824]"},
      {"bench -n 1 -p 0 --threads 99999999999" + m, "--threads 99999999999: must be at most"},
      {"logits --ids 1 --threads 9999999999999" + m, "--threads: 9999999999999 is larger than the limit"},
  };
  for (const auto& c : cases) {
    CommandResult r = run_shell(cli() + " " + c.args);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.args << ": " << r.err;
    EXPECT_EQ(r.err.find("vector"), std::string::npos) << r.err;
  }
  // The largest seed is accepted as is.
  CommandResult r = run_shell(cli() + " generate --ids 1,2 --max-new-tokens 1 --do-sample --seed 18446744073709551615" + m);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("seed 18446744073709551615"), std::string::npos) << r.err;
}

TEST(Ranges, GenerationConfigIdsAndSizesAreChecked) {
  const fs::path d = model_copy("genids");
  for (const char* body : {"{\"eos_token_id\": 1000000}", "{\"eos_token_id\": [100257, 16777215]}",
                           "{\"pad_token_id\": 999999}", "{\"bos_token_id\": 2147483647}"}) {
    write_file(d / "generation_config.json", body);
    CommandResult r = run_shell(cli() + " generate --ids 1,2 --max-new-tokens 1 --model " + d.string());
    EXPECT_EQ(r.exit_code, 1) << body;
    EXPECT_NE(r.err.find((d / "generation_config.json").string() + ": "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("is outside the vocabulary (vocab_size"), std::string::npos) << r.err;
  }
  GenerationConfig g;
  g.max_new_tokens = std::numeric_limits<int64_t>::max();
  EXPECT_NE(error_of([&] { g.validate(); }).find("max_new_tokens=9223372036854775807: must be at most"),
            std::string::npos);
}

// ---- class 9: messages that help ----------------------------------------------------------------

TEST(Messages, UsageErrorsAreShortAndPrefixed) {
  CommandResult r = run_shell(cli() + " frobnicate --model x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("error: unknown subcommand 'frobnicate' (subcommands: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("generate"), std::string::npos) << r.err;
  for (const char* args : {"logits --ids 1 --threads -1", "generate --ids 1 --max-new-tokens -5", "logits --ids 1"}) {
    r = run_shell(cli() + " " + args + (std::string(args) == "logits --ids 1" ? "" : " --model " + tiny().string()));
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
    EXPECT_LT(r.err.size(), 300u) << r.err;  // no 309-digit range
  }
  r = run_shell(cli() + " --help");
  EXPECT_EQ(r.exit_code, 0);
}

TEST(Messages, GenerationConfigValuesNameTheFile) {
  const fs::path d = model_copy("genmsg");
  for (const char* body : {"{\"temperature\": -1}", "{\"top_p\": 1.5}", "{\"max_new_tokens\": 0}"}) {
    write_file(d / "generation_config.json", body);
    CommandResult r = run_shell(cli() + " generate --ids 1,2 --model " + d.string());
    EXPECT_EQ(r.exit_code, 1) << body;
    EXPECT_NE(r.err.find("error: " + (d / "generation_config.json").string() + ": invalid generation option"),
              std::string::npos)
        << r.err;
  }
}

TEST(Messages, TokenIdsNearTheLimitAreReportedAsOutOfRange) {
  const fs::path d = model_copy("bigid");
  auto tj = nlohmann::json::parse(read_file(d / "tokenizer.json"));
  auto& vocab = tj["model"]["vocab"];
  const std::string first = vocab.begin().key();
  for (int64_t id : {int64_t{16777215}, int64_t{16777216}}) {
    vocab[first] = id;
    write_file(d / "tokenizer.json", tj.dump());
    const std::string msg = error_of([&] { Tokenizer::from_dir(d); });
    EXPECT_NE(msg.find("is out of range (ids must be below 16777215)"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("not in model.vocab"), std::string::npos) << msg;
  }
}

TEST(Messages, LongJsonlLinesWork) {
  // Lines longer than the 4 MiB read block used to be cut and reported as invalid JSON.
  std::string text;
  while (text.size() < (4u << 20) + (200u << 10)) text += "The quick brown fox jumps over the lazy dog. ";
  const std::string line = nlohmann::json{{"text", text}}.dump();
  CommandResult r = run_cli({"tokenize", "--model", tiny().string(), "--jsonl"},
                            "{\"text\": \"a\"}\n" + line + "\n{\"text\": \"b\"}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err.substr(0, 300);
  const auto tok = Tokenizer::from_dir(tiny());
  const size_t nl1 = r.out.find('\n'), nl2 = r.out.find('\n', nl1 + 1);
  ASSERT_NE(nl2, std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(r.out.substr(nl1 + 1, nl2 - nl1 - 1)), nlohmann::json({{"ids", tok->encode(text)}}));
  EXPECT_EQ(nlohmann::json::parse(r.out.substr(nl2 + 1)), nlohmann::json({{"ids", tok->encode("b")}}));
}

// ---- class 10: a mapped file that shrinks under us ----------------------------------------------

TEST(MappedFileDeathTest, TruncationIsAnErrorNamingTheFile) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const fs::path f = temp_dir("sigbus") / "model.safetensors";
  write_file(f, std::string(1 << 20, 'x'));
  EXPECT_EXIT(
      {
        io::install_mapping_fault_handler();
        io::MappedFile m(f);
        fs::resize_file(f, 0);  // as a re-download or an editor would
        volatile uint8_t sum = 0;
        for (size_t i = 0; i < m.size(); i += 4096) sum = static_cast<uint8_t>(sum + m.data()[i]);
        std::exit(sum == 255 ? 3 : 4);  // not reached
      },
      // (the death test's child runs in its own temporary directory: match the file name only)
      ::testing::ExitedWithCode(1), "error: /[^ ]*/model.safetensors: the file changed while in use");
}

}  // namespace
}  // namespace stablelm::test
