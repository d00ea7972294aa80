#pragma once
// `stablelm serve`: an OpenAI-compatible HTTP server over one Engine (docs/SERVER.md).
//
// One scheduler thread runs continuous batching: requests join and leave at every step, prompts
// are prefilled in chunks mixed with the running decodes, and the engine's prefix cache is shared
// by every request. HTTP threads parse and validate requests, hand them to the scheduler through a
// bounded queue and turn its progress into JSON or Server-Sent Events.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "stablelm/model.h"

namespace stablelm::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0 = any free port (the chosen one is printed)
  std::string model_name;           // the id /v1/models reports and requests may name; default: the directory name
  std::string api_key;              // empty = no authentication
  int parallel = 4;                 // sequences decoded together (a request with n choices uses n)
  int64_t ctx_size = 0;             // longest sequence (prompt + completion); 0 = the model's max_position_embeddings
  int64_t kv_tokens = 0;            // KV pool capacity; 0 = parallel * ctx_size
  KVFormat kv = KVFormat::F32;
  int max_queue = 64;               // requests waiting for a slot; more are answered 503
  size_t max_body_bytes = 8 << 20;  // larger bodies are answered 413
  int max_n = 16;                   // largest n / best_of
  int max_logprobs = 20;            // largest logprobs / top_logprobs
  int64_t max_batch_tokens = 256;   // rows per forward pass (decodes + prefill chunks)
  int64_t prefill_chunk = 64;       // prompt rows per pass while other sequences decode (bounds their latency)
  double shutdown_grace_seconds = 10;  // on SIGTERM: how long running requests may finish before they are cancelled
};

// Loads the model (while /health answers 503), serves until SIGTERM or SIGINT, finishes or
// cancels the running requests, and returns 0. Throws stablelm::Error when the address cannot be
// bound or the model cannot be loaded.
int serve(const std::filesystem::path& model_dir, const LoadOptions& load, const ServerOptions& opts);

}  // namespace stablelm::server
