#pragma once
// Continuous batching over one Engine, on one thread. Each step builds one Batch: a decode row for
// every running choice, then prompt rows of the requests still being prefilled (oldest first) up
// to max_batch_tokens, so a long prompt is prefilled in chunks between the decodes of the others.
// New requests are admitted at every step when slots (sequences) are free; a new prompt first
// takes its cached prefix (Engine::attach_prefix; for echo + logprobs only as far as the
// prompt-logprob cache also holds the prefix's logprobs); choices 2..n fork the prompt's sequence.
// Cancelled requests (client gone) are dropped at the next step and their blocks released.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/metrics.h"
#include "server/prompt_logprob_cache.h"
#include "server/token_logprob.h"
#include "stablelm/engine.h"
#include "stablelm/generate.h"
#include "stablelm/generation_config.h"

namespace stablelm {
class Tokenizer;
}

namespace stablelm::server {

// One prompt of a request: what to run.
struct JobSpec {
  std::vector<int32_t> prompt;
  GenerationConfig cfg;     // validated; unused when max_tokens == 0
  int64_t max_tokens = 16;  // 0: echo only, no generation
  int choices = 1;          // sequences generated (best_of)
  uint64_t seed = 0;        // choice i samples with seed + i
  int top_logprobs = -1;    // -1: no logprobs; k >= 0: logprob of each token and its top k
  bool prompt_logprobs = false;  // logprobs of the prompt tokens too (echo): every prompt row is computed
  bool rank = false;        // the cumulative logprob is needed (best_of > n)
};

struct ChoiceProgress {
  std::vector<int32_t> ids;
  std::vector<TokenLogprob> logprobs;  // when requested
  double cum_logprob = 0;              // when rank
  bool done = false;
  StopReason reason = StopReason::MaxNewTokens;
  int stop_index = -1;
};

struct JobProgress {
  std::vector<TokenLogprob> prompt_logprobs;  // entries 1..len-1 (the first prompt token has none)
  std::vector<ChoiceProgress> choices;
  int64_t cached_tokens = 0;  // prompt tokens taken from the prefix cache
  bool done = false;
};

// A request shared by its HTTP thread and the scheduler. The specs are fixed before submit();
// the progress is written by the scheduler under mu and read by the HTTP thread.
class Request {
 public:
  explicit Request(std::vector<JobSpec> specs);
  const std::vector<JobSpec>& specs() const { return specs_; }

  std::mutex mu;
  std::condition_variable cv;
  std::vector<JobProgress> progress;  // one per spec
  bool finished = false;              // every job done, or failed
  int error_status = 0;               // non-zero: failed with this status and message
  std::string error_message;
  uint64_t version = 0;               // bumped at every update (waiters compare)

  std::atomic<bool> cancelled{false};  // set by the HTTP side when the client goes away
  const std::chrono::steady_clock::time_point arrival;

 private:
  std::vector<JobSpec> specs_;
};

struct SchedulerOptions {
  int parallel = 4;
  int max_queue = 64;
  int64_t max_batch_tokens = 256;
  // Prompt rows per step while other sequences decode: each such step delays every stream, so a
  // smaller chunk bounds their inter-token latency (a long prompt then takes more steps).
  int64_t prefill_chunk = 64;
  int64_t max_logit_rows = 64;  // prompt rows with logits per step (echo + logprobs): bounds the logits buffer
  int max_top_logprobs = 20;    // the largest top_logprobs a request may ask (kept by the prompt-logprob cache)
};

class Scheduler {
 public:
  Scheduler(Engine& engine, const Tokenizer* tok, const SchedulerOptions& opts, Metrics& metrics);
  ~Scheduler();  // stops and joins the thread

  enum class Submit { Ok, QueueFull, ShuttingDown };
  Submit submit(const std::shared_ptr<Request>& req);

  // Stops admitting (queued requests fail with 503); running ones go on. cancel_running() then
  // cancels those left; stop() ends the thread once nothing runs.
  void drain();
  void cancel_running();
  bool idle() const;
  void stop();

 private:
  struct Choice;
  struct Active;
  void run();
  void admit_locked();
  void drop_cancelled();
  void step();
  void start_choices(Active& a, std::span<const float> last_row);
  void choice_step(Active& a, size_t c, std::span<const float> row);
  void fail(Active& a, int status, const std::string& message);
  void finish_job(Active& a);
  void release_all(Active& a);
  int slots_used() const;

  Engine& engine_;
  const Tokenizer* tok_;
  SchedulerOptions opts_;
  Metrics& metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Request>> queue_;
  bool draining_ = false, stopping_ = false;
  std::atomic<int64_t> running_count_{0};
  std::atomic<bool> cancel_all_{false};

  std::vector<std::unique_ptr<Active>> active_;  // scheduler thread only
  PromptLogprobCache lp_cache_;                  // scheduler thread only
  Batch batch_;
  std::thread thread_;
};

}  // namespace stablelm::server
