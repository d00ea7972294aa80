// Tokenizer throughput: load time of each file format, single-thread encode MB/s over a text
// file (default: the fixtures' bench.txt), and multi-thread batch encode MB/s over its lines
// grouped into ~64 KiB documents.
//   bench_tokenizer [--text FILE] [--model DIR|FILE] [--reps N] [--threads N] [--json]
// Prints one line per measurement; --json prints JSON lines for scripts.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "stablelm/tokenizer.h"

// The fixtures live beside the checkout (../shared/fixtures), found from this source file.
#ifndef STABLELM_FIXTURES_DIR
#define STABLELM_FIXTURES_DIR (std::filesystem::path(__FILE__).parent_path() / "../../shared/fixtures").lexically_normal().string()
#endif

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "cannot open %s\n", p.c_str());
    std::exit(2);
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

int main(int argc, char** argv) {
  std::string fixtures = STABLELM_FIXTURES_DIR;
  std::string text_path = fixtures + "/tokenizer/bench.txt";
  std::vector<std::string> models;
  int reps = 5, threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--text") text_path = next();
    else if (a == "--model") models.push_back(next());
    else if (a == "--reps") reps = std::stoi(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--json") json = true;
    else {
      std::fprintf(stderr, "usage: bench_tokenizer [--text FILE] [--model DIR|FILE]... [--reps N] [--threads N] [--json]\n");
      return 2;
    }
  }
  if (models.empty()) {
    models = {fixtures + "/arcade100k/tokenizer.json", fixtures + "/arcade100k/arcade100k.tiktoken",
              fixtures + "/arcade100k-no-nfc/tokenizer.json"};
  }
  std::string text = read_file(text_path);
  double mb = static_cast<double>(text.size()) / 1e6;
  // Documents for the batch run: lines grouped into ~64 KiB pieces.
  std::vector<std::string_view> docs;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = std::min(text.size(), pos + 65536);
    size_t nl = text.find('\n', end);
    end = nl == std::string::npos ? text.size() : nl + 1;
    docs.emplace_back(text.data() + pos, end - pos);
    pos = end;
  }
  for (const auto& m : models) {
    auto t0 = Clock::now();
    std::unique_ptr<stablelm::Tokenizer> tok =
        std::filesystem::is_directory(m) ? stablelm::Tokenizer::from_dir(m) : stablelm::Tokenizer::from_file(m);
    double load_s = seconds_since(t0);
    // First encode also builds the process-wide Unicode tables; time it apart.
    t0 = Clock::now();
    size_t n_tokens = tok->encode(text).size();
    double first_s = seconds_since(t0);
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
      t0 = Clock::now();
      n_tokens = tok->encode(text).size();
      best = std::min(best, seconds_since(t0));
    }
    double best_batch = 1e30;
    size_t batch_tokens = 0;
    for (int r = 0; r < reps; ++r) {
      t0 = Clock::now();
      auto out = tok->encode_batch(docs, true, threads);
      best_batch = std::min(best_batch, seconds_since(t0));
      batch_tokens = 0;
      for (auto& v : out) batch_tokens += v.size();
    }
    if (json) {
      std::printf(
          "{\"model\": \"%s\", \"bytes\": %zu, \"tokens\": %zu, \"load_ms\": %.1f, \"first_encode_s\": %.3f, "
          "\"encode_mb_s\": %.2f, \"batch_threads\": %d, \"batch_docs\": %zu, \"batch_tokens\": %zu, \"batch_mb_s\": %.2f}\n",
          m.c_str(), text.size(), n_tokens, load_s * 1e3, first_s, mb / best, threads, docs.size(), batch_tokens,
          mb / best_batch);
    } else {
      std::printf("%s\n  load %.1f ms | %zu bytes -> %zu tokens | 1 thread: %.2f MB/s (best of %d; first run %.3f s) | "
                  "batch %zu docs, %d threads: %.2f MB/s\n",
                  tok->describe().c_str(), load_s * 1e3, text.size(), n_tokens, mb / best, reps, first_s, docs.size(),
                  threads, mb / best_batch);
    }
    std::fflush(stdout);
  }
  return 0;
}
