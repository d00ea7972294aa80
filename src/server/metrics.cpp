#include "server/metrics.h"

#include <cstdio>

namespace stablelm::server {
namespace {

std::string num(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

}  // namespace

void Histogram::observe(double seconds) {
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  if (i < kBounds.size()) ++counts_[i];
  ++count_;
  sum_ += seconds;
}

std::string Histogram::render(const std::string& name, const std::string& help) const {
  std::string s = "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cum = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cum += counts_[i];
    s += name + "_bucket{le=\"" + num(kBounds[i]) + "\"} " + std::to_string(cum) + "\n";
  }
  s += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
  s += name + "_sum " + num(sum_) + "\n" + name + "_count " + std::to_string(count_) + "\n";
  return s;
}

void Metrics::set_queue(int64_t running, int64_t waiting) {
  std::lock_guard lk(mu_);
  running_ = running, waiting_ = waiting;
}
void Metrics::add_request(bool ok) {
  std::lock_guard lk(mu_);
  ++(ok ? requests_ok_ : requests_failed_);
}
void Metrics::add_prompt_tokens(int64_t n) {
  std::lock_guard lk(mu_);
  prompt_tokens_ += static_cast<uint64_t>(n);
}
void Metrics::add_generated_tokens(int64_t n) {
  std::lock_guard lk(mu_);
  generated_tokens_ += static_cast<uint64_t>(n);
}
void Metrics::observe_ttft(double s) {
  std::lock_guard lk(mu_);
  ttft_.observe(s);
}
void Metrics::observe_itl(double s) {
  std::lock_guard lk(mu_);
  itl_.observe(s);
}
void Metrics::set_engine(const EngineStats& st) {
  std::lock_guard lk(mu_);
  engine_ = st;
}

std::string Metrics::render(const std::string& model_name) const {
  std::lock_guard lk(mu_);
  std::string s;
  auto gauge = [&](const char* name, const char* type, const char* help, const std::string& value) {
    s += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + value + "\n";
  };
  gauge("stablelm_requests_running", "gauge", "Requests being prefilled or decoded.", std::to_string(running_));
  gauge("stablelm_requests_waiting", "gauge", "Requests queued for a slot.", std::to_string(waiting_));
  gauge("stablelm_requests_succeeded_total", "counter", "Requests that finished.", std::to_string(requests_ok_));
  gauge("stablelm_requests_failed_total", "counter", "Requests cancelled or failed after admission.",
        std::to_string(requests_failed_));
  gauge("stablelm_prompt_tokens_total", "counter", "Prompt tokens admitted.", std::to_string(prompt_tokens_));
  gauge("stablelm_generation_tokens_total", "counter", "Tokens generated.", std::to_string(generated_tokens_));
  s += ttft_.render("stablelm_time_to_first_token_seconds", "From arrival to the first generated token.");
  s += itl_.render("stablelm_inter_token_latency_seconds", "Between consecutive tokens of one sequence.");
  gauge("stablelm_kv_blocks_total", "gauge", "KV pool blocks.", std::to_string(engine_.blocks_total));
  gauge("stablelm_kv_blocks_used", "gauge", "KV pool blocks referenced by a sequence.", std::to_string(engine_.blocks_used));
  gauge("stablelm_kv_blocks_cached", "gauge", "Unreferenced blocks kept for the prefix cache.",
        std::to_string(engine_.blocks_cached));
  gauge("stablelm_prefix_cache_queries_total", "counter", "Prompt tokens offered to the prefix cache.",
        std::to_string(engine_.prefix_queries));
  gauge("stablelm_prefix_cache_hits_total", "counter", "Prompt tokens found in the prefix cache.",
        std::to_string(engine_.prefix_hits));
  gauge("stablelm_prefix_cache_hit_rate", "gauge", "prefix_cache_hits_total / prefix_cache_queries_total.",
        num(engine_.prefix_queries ? static_cast<double>(engine_.prefix_hits) / engine_.prefix_queries : 0.0));
  (void)model_name;
  return s;
}

}  // namespace stablelm::server
