#include "server/scheduler.h"

#include <algorithm>
#include <numeric>

#include "stablelm/error.h"
#include "stablelm/eval.h"
#include "stablelm/tokenizer.h"

namespace stablelm::server {

using Clock = std::chrono::steady_clock;

TokenLogprob token_logprob(std::span<const float> row, int32_t target, int k) {
  const eval::LogSoftmax ls = eval::log_softmax_of(row);
  TokenLogprob t;
  t.id = target;
  t.logprob = ls(row[static_cast<size_t>(target)]);
  if (k > 0) {
    // The k largest logits, ties to the lower id (so a greedy token is the first entry and its
    // value is the same double as its own logprob): one pass keeping them sorted, skipping each
    // chunk of the row whose largest value cannot enter (nearly all of them once k are held).
    const auto kk = std::min<size_t>(static_cast<size_t>(k), row.size());
    std::vector<std::pair<float, int32_t>> best;  // descending value, ascending id among equals
    best.reserve(kk + 1);
    constexpr size_t kChunk = 64;
    for (size_t c = 0; c < row.size(); c += kChunk) {
      const size_t end = std::min(row.size(), c + kChunk);
      if (best.size() == kk) {
        float m = row[c];
        for (size_t i = c; i < end; ++i) m = row[i] > m ? row[i] : m;
        if (!(m > best.back().first)) continue;  // an equal value has a higher id: it does not enter
      }
      for (size_t i = c; i < end; ++i) {
        const float v = row[i];
        if (best.size() == kk && !(v > best.back().first)) continue;
        // After every held value >= v: equal values keep their lower ids first.
        auto at = std::upper_bound(best.begin(), best.end(), v, [](float x, const auto& e) { return x > e.first; });
        best.insert(at, {v, static_cast<int32_t>(i)});
        if (best.size() > kk) best.pop_back();
      }
    }
    for (const auto& [v, id] : best) t.top.emplace_back(id, ls(v));
  }
  return t;
}

Request::Request(std::vector<JobSpec> specs) : arrival(Clock::now()), specs_(std::move(specs)) {
  progress.resize(specs_.size());
}

struct Scheduler::Choice {
  std::unique_ptr<SequenceGenerator> gen;
  SeqId seq = -1;
  int32_t pending = -1;  // the last chosen token, fed at the next step
  bool done = false;
  Clock::time_point last_token;
};

struct Scheduler::Active {
  std::shared_ptr<Request> req;
  size_t job = 0;
  const JobSpec* spec = nullptr;
  SeqId seq0 = -1;  // the prompt's sequence (becomes choice 0's)
  bool prefilling = true;
  std::vector<TokenLogprob> prompt_lps;  // echo + logprobs: every prompt position's entry, full top list
  std::vector<Choice> choices;
  bool finished = false;
};

Scheduler::Scheduler(Engine& engine, const Tokenizer* tok, const SchedulerOptions& opts, Metrics& metrics)
    : engine_(engine),
      tok_(tok),
      opts_(opts),
      metrics_(metrics),
      lp_cache_(engine.block_size(), engine.stats().blocks_total, opts.max_top_logprobs) {
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() { stop(); }

Scheduler::Submit Scheduler::submit(const std::shared_ptr<Request>& req) {
  {
    std::lock_guard lk(mu_);
    if (draining_ || stopping_) return Submit::ShuttingDown;
    if (static_cast<int>(queue_.size()) >= opts_.max_queue) return Submit::QueueFull;
    queue_.push_back(req);
    metrics_.set_queue(running_count_.load(), static_cast<int64_t>(queue_.size()));
  }
  cv_.notify_all();
  return Submit::Ok;
}

void Scheduler::drain() {
  std::deque<std::shared_ptr<Request>> rejected;
  {
    std::lock_guard lk(mu_);
    draining_ = true;
    rejected.swap(queue_);
  }
  for (auto& r : rejected) {
    std::lock_guard lk(r->mu);
    r->finished = true;
    r->error_status = 503;
    r->error_message = "the server is shutting down";
    ++r->version;
    r->cv.notify_all();
  }
  cv_.notify_all();
}

void Scheduler::cancel_running() {
  cancel_all_ = true;
  cv_.notify_all();
}

bool Scheduler::idle() const {
  std::lock_guard lk(mu_);
  return queue_.empty() && running_count_.load() == 0;
}

void Scheduler::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int Scheduler::slots_used() const {
  int n = 0;
  for (const auto& a : active_) n += a->spec->choices;
  return n;
}

void Scheduler::admit_locked() {
  while (!queue_.empty()) {
    const auto& req = queue_.front();
    int need = 0;
    for (const auto& s : req->specs()) need += s.choices;
    // A request larger than --parallel runs when nothing else does.
    if (!active_.empty() && slots_used() + need > opts_.parallel) break;
    for (size_t j = 0; j < req->specs().size(); ++j) {
      auto a = std::make_unique<Active>();
      a->req = req;
      a->job = j;
      a->spec = &req->specs()[j];
      a->seq0 = engine_.create();
      int64_t cached = 0;
      std::vector<TokenLogprob> cut;
      if (!a->spec->prompt_logprobs) {
        cached = engine_.attach_prefix(a->seq0, a->spec->prompt);
      } else {
        // The cached prefix serves only as far as its logprobs are cached too. Its last position
        // is computed again (same KV, bit for bit): its logits give the next prompt token's entry.
        const auto& P = a->spec->prompt;
        const int64_t B = engine_.block_size();
        const int64_t m = lp_cache_.cached_blocks(P, (static_cast<int64_t>(P.size()) - 1) / B);
        const int64_t got = m > 0 ? engine_.attach_prefix(a->seq0, std::span(P).first(static_cast<size_t>(m * B + 1))) : 0;
        if (got > 0) {  // whole blocks
          const int64_t keep = got - 1;
          engine_.truncate(a->seq0, keep);
          a->prompt_lps = lp_cache_.entries(P, keep + 1, lp_cache_.top());
          for (const auto& e : a->prompt_lps) {
            TokenLogprob t = e;
            t.top.resize(std::min(t.top.size(), static_cast<size_t>(std::max(0, a->spec->top_logprobs))));
            cut.push_back(std::move(t));
          }
          cached = keep;
        }
      }
      {
        std::lock_guard lk(req->mu);
        req->progress[j].cached_tokens = cached;
        req->progress[j].prompt_logprobs = std::move(cut);
      }
      metrics_.add_prompt_tokens(static_cast<int64_t>(a->spec->prompt.size()));
      active_.push_back(std::move(a));
    }
    queue_.pop_front();
  }
}

void Scheduler::release_all(Active& a) {
  if (a.seq0 >= 0) engine_.release(a.seq0);
  a.seq0 = -1;
  for (auto& c : a.choices)
    if (c.seq >= 0) engine_.release(c.seq), c.seq = -1;
  a.finished = true;
}

void Scheduler::fail(Active& a, int status, const std::string& message) {
  auto req = a.req;
  for (auto& other : active_)
    if (other->req == req && !other->finished) release_all(*other);
  std::lock_guard lk(req->mu);
  if (!req->finished) {
    req->finished = true;
    req->error_status = status;
    req->error_message = message;
    ++req->version;
  }
  req->cv.notify_all();
}

void Scheduler::finish_job(Active& a) {
  release_all(a);
  std::lock_guard lk(a.req->mu);
  a.req->progress[a.job].done = true;
  bool all = true;
  for (const auto& p : a.req->progress) all = all && p.done;
  if (all) a.req->finished = true;
  ++a.req->version;
  a.req->cv.notify_all();
}

void Scheduler::drop_cancelled() {
  for (auto& a : active_)
    if (!a->finished && (cancel_all_.load() || a->req->cancelled.load()))
      fail(*a, 503, cancel_all_.load() ? "the server is shutting down" : "cancelled");
}

void Scheduler::start_choices(Active& a, std::span<const float> last_row) {
  const JobSpec& s = *a.spec;
  a.prefilling = false;
  if (s.max_tokens == 0) return finish_job(a);
  const auto vocab = static_cast<int64_t>(last_row.size());
  a.choices.resize(static_cast<size_t>(s.choices));
  {
    std::lock_guard lk(a.req->mu);
    a.req->progress[a.job].choices.resize(a.choices.size());
  }
  for (size_t c = 0; c < a.choices.size(); ++c) {
    a.choices[c].seq = c == 0 ? a.seq0 : engine_.fork(a.seq0);
    a.choices[c].gen = std::make_unique<SequenceGenerator>(s.cfg, vocab, s.prompt, s.seed + c, tok_);
  }
  a.seq0 = -1;  // owned by choice 0 now
  const bool first_of_request = a.job == 0;
  if (first_of_request)
    metrics_.observe_ttft(std::chrono::duration<double>(Clock::now() - a.req->arrival).count());
  for (size_t c = 0; c < a.choices.size(); ++c) choice_step(a, c, last_row);
}

void Scheduler::choice_step(Active& a, size_t c, std::span<const float> row) {
  Choice& ch = a.choices[c];
  const SequenceGenerator::Step st = ch.gen->step(row);
  const auto now = Clock::now();
  if (!ch.gen->ids().empty() && ch.gen->ids().size() > 1)
    metrics_.observe_itl(std::chrono::duration<double>(now - ch.last_token).count());
  ch.last_token = now;
  metrics_.add_generated_tokens(1);
  TokenLogprob tl;
  const bool want_lp = a.spec->top_logprobs >= 0 || a.spec->rank;
  if (want_lp) tl = token_logprob(row, st.id, std::max(0, a.spec->top_logprobs));
  {
    std::lock_guard lk(a.req->mu);
    ChoiceProgress& p = a.req->progress[a.job].choices[c];
    p.ids.push_back(st.id);
    if (want_lp) p.cum_logprob += tl.logprob;
    if (a.spec->top_logprobs >= 0) p.logprobs.push_back(std::move(tl));
    if (st.done) p.done = true, p.reason = st.reason, p.stop_index = st.stop_string_index;
    ++a.req->version;
  }
  a.req->cv.notify_all();
  ch.pending = st.id;
  if (st.done) {
    ch.done = true;
    engine_.release(ch.seq);
    ch.seq = -1;
    bool all = true;
    for (const auto& o : a.choices) all = all && o.done;
    if (all) finish_job(a);
  }
}

void Scheduler::run() {
  for (;;) {
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty() || !active_.empty(); });
      if (stopping_) break;
      if (!draining_) admit_locked();
    }
    drop_cancelled();
    std::erase_if(active_, [](const auto& a) { return a->finished; });
    running_count_ = static_cast<int64_t>(active_.size());
    {
      std::lock_guard lk(mu_);
      metrics_.set_queue(running_count_.load(), static_cast<int64_t>(queue_.size()));
    }
    metrics_.set_engine(engine_.stats());
    if (active_.empty()) continue;
    try {
      step();
    } catch (const std::exception& e) {
      for (auto& a : active_)
        if (!a->finished) fail(*a, 500, std::string("internal error: ") + e.what());
    }
    std::erase_if(active_, [](const auto& a) { return a->finished; });
    running_count_ = static_cast<int64_t>(active_.size());
    metrics_.set_engine(engine_.stats());
  }
  for (auto& a : active_)
    if (!a->finished) fail(*a, 503, "the server is shutting down");
  active_.clear();
  running_count_ = 0;
}

void Scheduler::step() {
  struct RowUse {
    Active* a;
    bool decode;
    size_t choice;  // decode
    int64_t pos;    // prompt row
  };
  std::vector<RowUse> uses;
  auto build = [&](bool with_prefill) {
    batch_.clear();
    uses.clear();
    for (auto& a : active_) {
      if (a->finished || a->prefilling) continue;
      for (size_t c = 0; c < a->choices.size(); ++c) {
        const Choice& ch = a->choices[c];
        if (ch.done) continue;
        batch_.add(ch.pending, engine_.length(ch.seq), ch.seq, true);
        uses.push_back({a.get(), true, c, 0});
      }
    }
    if (!with_prefill) return;
    int64_t budget = std::max<int64_t>(1, opts_.max_batch_tokens - static_cast<int64_t>(batch_.size()));
    if (!batch_.empty()) budget = std::min(budget, std::max<int64_t>(1, opts_.prefill_chunk));
    int64_t logit_rows = opts_.max_logit_rows;
    for (auto& a : active_) {
      if (a->finished || !a->prefilling || budget <= 0) continue;
      const auto& prompt = a->spec->prompt;
      const int64_t L = static_cast<int64_t>(prompt.size());
      const int64_t start = engine_.length(a->seq0);
      int64_t take = std::min(L - start, budget);
      if (a->spec->prompt_logprobs) {
        take = std::min(take, logit_rows);
        if (take <= 0) continue;
        logit_rows -= take;
      }
      for (int64_t i = start; i < start + take; ++i) {
        const bool want = a->spec->prompt_logprobs || i == L - 1;
        batch_.add(prompt[static_cast<size_t>(i)], i, a->seq0, want);
        if (want) uses.push_back({a.get(), false, 0, i});
      }
      budget -= take;
    }
  };
  build(true);
  if (engine_.blocks_needed(batch_) > engine_.blocks_available()) {
    build(false);  // decodes first: prompts wait for blocks to come free
    if (batch_.empty() || engine_.blocks_needed(batch_) > engine_.blocks_available()) {
      // Even the decodes do not fit: the youngest request gives its blocks back.
      for (auto it = active_.rbegin(); it != active_.rend(); ++it)
        if (!(*it)->finished) {
          fail(**it, 503, "the KV cache is full (raise --kv-tokens or lower --parallel)");
          break;
        }
      return;
    }
  }
  if (batch_.empty()) return;
  const std::span<const float> logits = engine_.forward(batch_);
  const auto V = static_cast<size_t>(engine_.model().config().vocab_size);
  for (size_t r = 0; r < uses.size(); ++r) {
    const RowUse& u = uses[r];
    if (u.a->finished) continue;
    const std::span<const float> row = logits.subspan(r * V, V);
    if (u.decode) {
      choice_step(*u.a, u.choice, row);
      continue;
    }
    const auto& prompt = u.a->spec->prompt;
    const auto L = static_cast<int64_t>(prompt.size());
    if (u.a->spec->prompt_logprobs && u.pos + 1 < L) {
      const int k = std::max(0, u.a->spec->top_logprobs);
      TokenLogprob tl = token_logprob(row, prompt[static_cast<size_t>(u.pos + 1)], std::max(k, lp_cache_.top()));
      u.a->prompt_lps.push_back(tl);
      tl.top.resize(std::min(tl.top.size(), static_cast<size_t>(k)));
      std::lock_guard lk(u.a->req->mu);
      u.a->req->progress[u.a->job].prompt_logprobs.push_back(std::move(tl));
    }
    if (u.pos == L - 1) {
      if (u.a->spec->prompt_logprobs) {
        lp_cache_.insert(prompt, u.a->prompt_lps);
        u.a->prompt_lps = {};
      }
      start_choices(*u.a, row);
    }
  }
}

}  // namespace stablelm::server
