// stablelm tokenize: text → token ids with the model's tokenizer.
//   stablelm tokenize --model DIR --text "..." [--no-special]      → {"ids": [...]}
//   stablelm tokenize --model DIR --jsonl [--threads N] < lines     → one {"ids": [...]} per line
// JSONL input lines are {"text": "...", "special": true|false} ("special" optional, default
// true); blank lines are skipped. Lines are read in blocks and encoded on all cores, output in
// input order. Invalid input (bad JSON, missing "text", invalid UTF-8) stops with an error
// naming the line; the lines before it have been written.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "command.h"
#include "number_args.h"
#include "common/thread_pool.h"
#include "model_path.h"
#include "stablelm/error.h"
#include "stablelm/tokenizer.h"
#include "tokenizer/encode_request.h"

namespace stablelm::cli {
namespace {

struct Options {
  std::string model;
  std::string text;
  bool has_text = false;
  bool jsonl = false;
  bool no_special = false;
  int threads = 0;
};

void append_ids(std::string& out, const std::vector<int32_t>& ids) {
  out += "{\"ids\": [";
  char num[16];
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ", ";
    int n = std::snprintf(num, sizeof num, "%d", ids[i]);
    out.append(num, static_cast<size_t>(n));
  }
  out += "]}\n";
}

// Encodes one JSONL line into `out`; throws Error naming the line.
void encode_line(const Tokenizer& tok, std::string_view line, size_t line_no, bool default_special, std::string& out) {
  const std::string where = "stdin line " + std::to_string(line_no);
  const tok::EncodeRequest req = tok::parse_encode_request(line, default_special, where);
  try {
    append_ids(out, tok.encode(req.text, req.special));
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
}

int run_jsonl(const Tokenizer& tok, const Options& o) {
  int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  constexpr size_t kBlockBytes = 4 << 20;
  std::string buf, carry;
  std::vector<char> chunk(1 << 20);
  size_t line_no = 0;
  bool eof = false;
  while (!eof) {
    // Read about one block of whole lines.
    buf.swap(carry);
    carry.clear();
    // At least a block, and more until it holds a newline: a line longer than a block is read
    // whole (it used to be cut at 4 MiB and reported as invalid JSON).
    for (size_t searched = 0;;) {
      if (buf.size() >= kBlockBytes && buf.find('\n', searched) != std::string::npos) break;
      searched = buf.size();
      size_t n = std::fread(chunk.data(), 1, chunk.size(), stdin);
      if (n == 0) {
        if (std::ferror(stdin)) throw Error("cannot read stdin: " + std::string(std::strerror(errno)));
        eof = true;
        break;
      }
      buf.append(chunk.data(), n);
    }
    if (!eof) {
      size_t last_nl = buf.rfind('\n');
      carry.assign(buf, last_nl + 1, std::string::npos);
      buf.resize(last_nl + 1);
    }
    std::vector<std::string_view> lines;
    std::vector<size_t> numbers;
    for (size_t pos = 0; pos < buf.size();) {
      size_t nl = buf.find('\n', pos);
      size_t end = nl == std::string::npos ? buf.size() : nl;
      std::string_view l(buf.data() + pos, end - pos);
      if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
      ++line_no;
      if (l.find_first_not_of(" \t") != std::string_view::npos) {
        lines.push_back(l);
        numbers.push_back(line_no);
      }
      pos = end + 1;
    }
    // Encode in parallel; each worker takes small runs of lines, results are kept per line.
    std::vector<std::string> outs(lines.size());
    std::vector<std::exception_ptr> errors(lines.size());
    std::atomic<size_t> next{0};
    constexpr size_t kRun = 64;
    auto work = [&] {
      for (size_t b; (b = next.fetch_add(kRun)) < lines.size();) {
        for (size_t i = b; i < std::min(lines.size(), b + kRun); ++i) {
          try {
            encode_line(tok, lines[i], numbers[i], !o.no_special, outs[i]);
          } catch (...) {
            errors[i] = std::current_exception();  // std::bad_alloc stays itself: main names it
          }
        }
      }
    };
    std::vector<std::thread> pool;
    int n_threads = static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), lines.size() / kRun + 1));
    const int started = start_helper_threads(pool, n_threads - 1, work);
    if (started < n_threads - 1) {
      std::fprintf(stderr, "warning: --threads %d: the system allowed only %d threads; continuing with %d\n", threads,
                   started + 1, started + 1);
      threads = started + 1;
    }
    work();
    for (auto& th : pool) th.join();
    for (size_t i = 0; i < lines.size(); ++i) {
      if (errors[i]) {
        std::fflush(stdout);
        std::rethrow_exception(errors[i]);
      }
      std::fwrite(outs[i].data(), 1, outs[i].size(), stdout);
    }
  }
  std::fflush(stdout);
  return 0;
}

int run(const Options& o) {
  if (o.jsonl == o.has_text) throw Error("tokenize: give exactly one of --text TEXT or --jsonl (lines on stdin)");
  auto tok = Tokenizer::from_dir(resolve_model_dir(o.model));
  if (o.jsonl) return run_jsonl(*tok, o);
  std::string out;
  append_ids(out, tok->encode(o.text, !o.no_special));
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

Registration reg("tokenize", "Text to token ids with the model's tokenizer", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.add_option("--model", o->model, "Model or tokenizer directory")->required();
  app.add_option_function<std::string>(
      "--text",
      [o](const std::string& t) {
        o->text = t;
        o->has_text = true;
      },
      "Text to encode (valid UTF-8); prints {\"ids\": [...]}");
  app.add_flag("--jsonl", o->jsonl,
               "Read {\"text\": ..., \"special\": true|false} lines on stdin, write one {\"ids\": [...]} line each");
  app.add_flag("--no-special", o->no_special,
               "Treat special-token strings as plain text (transformers' split_special_tokens)");
  app.add_option("--threads", o->threads, "Threads for --jsonl (default: all cores)")->check(count_at_most(kMaxThreads));
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace stablelm::cli
