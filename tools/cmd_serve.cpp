// stablelm serve: an OpenAI-compatible HTTP server (docs/SERVER.md). The policy lives in
// src/server; this file maps the options.
#include <fstream>
#include <memory>

#include "command.h"
#include "model_path.h"
#include "run_options.h"
#include "stablelm/error.h"
#include "stablelm/server.h"

namespace stablelm::cli {
namespace {

struct Options {
  std::string model, revision, api_key_file;
  server::ServerOptions s;
  RunOptions run;
};

int run(Options& o) {
  if (!o.api_key_file.empty()) {
    if (!o.s.api_key.empty()) throw Error("--api-key and --api-key-file are exclusive");
    std::ifstream f(o.api_key_file);
    if (!f) throw Error("--api-key-file " + o.api_key_file + ": cannot read the file");
    std::getline(f, o.s.api_key);
    while (!o.s.api_key.empty() && (o.s.api_key.back() == '\r' || o.s.api_key.back() == ' ')) o.s.api_key.pop_back();
    if (o.s.api_key.empty()) throw Error("--api-key-file " + o.api_key_file + ": the first line is empty");
  }
  o.s.kv = o.run.kv_format();
  const auto dir = resolve_model_dir(o.model, o.revision);
  return server::serve(dir, o.run.load_options(), o.s);
}

Registration reg("serve", "OpenAI-compatible HTTP server with continuous batching (docs/SERVER.md)", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  add_model_options(app, o->model, o->revision);
  app.add_option("--host", o->s.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", o->s.port, "Port (0 = any free port; the chosen one is printed)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--model-name", o->s.model_name, "Model id reported by /v1/models (default: the directory name)");
  app.add_option("--parallel,--np", o->s.parallel, "Sequences decoded together (a request with n choices uses n)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--ctx-size,-c", o->s.ctx_size, "Longest sequence, prompt + completion (0 = the model's)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--kv-tokens", o->s.kv_tokens, "KV pool capacity in tokens (0 = parallel * ctx-size)")
      ->check(CLI::NonNegativeNumber);
  auto* key = app.add_option("--api-key", o->s.api_key, "Require 'Authorization: Bearer KEY' (all routes but /health and /)");
  app.add_option("--api-key-file", o->api_key_file, "Read the API key from the first line of a file")->excludes(key);
  app.add_option("--max-queue", o->s.max_queue, "Requests waiting for a slot before 503")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  app.add_option("--max-body", o->s.max_body_bytes, "Largest request body in bytes (413 above)")->capture_default_str();
  app.add_option("--max-n", o->s.max_n, "Largest n / best_of")->check(CLI::Range(1, 1024))->capture_default_str();
  app.add_option("--max-batch-tokens", o->s.max_batch_tokens, "Rows per forward pass (decodes + prefill chunks)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--prefill-chunk", o->s.prefill_chunk,
                 "Prompt tokens per forward pass while other sequences decode (smaller: lower inter-token latency, "
                 "slower first token)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--shutdown-grace", o->s.shutdown_grace_seconds,
                 "Seconds running requests may finish after SIGTERM before they are cancelled")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  add_run_options(app, o->run);
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace stablelm::cli
