// Entry points of the tokenizer API: which file to load, batch encoding, streaming decode.
#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

#include "stablelm/error.h"
#include "stablelm/tokenizer.h"
#include "tokenizer/load.h"
#include "common/thread_pool.h"
#include "tokenizer/unicode.h"

namespace stablelm {
namespace fs = std::filesystem;

// exists(), not is_regular_file(): a FIFO or directory in place of a file is then reported by
// name by the loader (io::open_regular_file) instead of being silently skipped.
std::unique_ptr<Tokenizer> Tokenizer::from_file(const fs::path& file, const fs::path& config) {
  if (!fs::exists(file)) throw Error(file.string() + ": no such file");
  if (!config.empty() && !fs::exists(config)) throw Error(config.string() + ": no such file");
  if (file.extension() == ".tiktoken") return tok::load_tiktoken(file, config);
  return tok::load_tokenizer_json(file, config);
}

std::unique_ptr<Tokenizer> Tokenizer::from_dir(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw Error(dir.string() + ": not a directory");
  fs::path config = dir / "tokenizer_config.json";
  if (!fs::exists(config)) config.clear();
  if (fs::exists(dir / "tokenizer.json")) return tok::load_tokenizer_json(dir / "tokenizer.json", config);
  if (fs::exists(dir / "arcade100k.tiktoken")) return tok::load_tiktoken(dir / "arcade100k.tiktoken", config);
  throw Error(dir.string() + ": no tokenizer.json or arcade100k.tiktoken");
}

namespace {
uint64_t next_instance_id() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

Tokenizer::Tokenizer() : instance_id_(next_instance_id()) {}
Tokenizer::Tokenizer(const Tokenizer&) : instance_id_(next_instance_id()) {}

std::vector<std::vector<int32_t>> Tokenizer::encode_batch(std::span<const std::string_view> texts, bool allow_special,
                                                          int threads) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), std::max<size_t>(1, texts.size())));
  if (threads == 1) {
    for (size_t i = 0; i < texts.size(); ++i) out[i] = encode(texts[i], allow_special);
    return out;
  }
  // Work stealing by index: texts can differ wildly in length.
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  auto work = [&] {
    try {
      for (size_t i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < texts.size();)
        out[i] = encode(texts[i], allow_special);
    } catch (...) {
      if (!failed.exchange(true)) error = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  start_helper_threads(pool, threads - 1, work);
  work();
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
  return out;
}

std::string clean_up_tokenization(std::string_view text) {
  static const std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
      {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  std::string s(text);
  // Applied one rule after another over the whole string, as transformers does.
  for (auto [from, to] : kRules) {
    std::string r;
    size_t pos = 0;
    while (true) {
      size_t k = s.find(from, pos);
      if (k == std::string::npos) break;
      r.append(s, pos, k - pos);
      r.append(to);
      pos = k + from.size();
    }
    r.append(s, pos, std::string::npos);
    s.swap(r);
  }
  return s;
}

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tok, bool skip_special)
    : tok_(tok), skip_special_(skip_special) {}

std::string IncrementalDecoder::push(int32_t id) {
  if (!tok_.is_valid_id(id) || (skip_special_ && tok_.is_special(id))) return {};
  pending_ += tok_.token_bytes(id);
  std::string out;
  size_t used = tok::append_utf8_lossy_partial(out, pending_, false);
  pending_.erase(0, used);
  return out;
}

std::string IncrementalDecoder::finish() {
  std::string out;
  tok::append_utf8_lossy(out, pending_);
  pending_.clear();
  return out;
}

}  // namespace stablelm
