// Batched scoring of (context, continuation) requests over the engine, with prefix reuse.
#include "stablelm/score.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <string>

#include "stablelm/error.h"
#include "stablelm/eval.h"

namespace stablelm::eval {

double token_logprob(std::span<const float> row, int32_t id, bool* is_argmax) {
  if (is_argmax) *is_argmax = argmax(row) == id;
  return log_softmax_of(row)(row[static_cast<size_t>(id)]);
}

namespace {

struct Active {
  size_t req;
  SeqId seq;
  std::vector<int32_t> tokens;  // context + continuation[:-1]: the rows to run
  int64_t first_scored;         // position whose logits predict continuation[0]
  int64_t need = 0;             // blocks its remaining rows will take from the pool
};

// Blocks that the remaining rows of sequence seq will take.
int64_t blocks_to_go(const Engine& engine, SeqId seq, std::span<const int32_t> tokens) {
  Batch rest;
  for (int64_t p = engine.length(seq); p < static_cast<int64_t>(tokens.size()); ++p) rest.add(tokens[static_cast<size_t>(p)], p, seq, false);
  return rest.empty() ? 0 : engine.blocks_needed(rest);
}

size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

}  // namespace

std::vector<ScoreResult> score_requests(Engine& engine, std::span<const ScoreRequest> requests, int64_t max_batch_rows) {
  const int64_t V = engine.model().config().vocab_size, B = engine.block_size();
  for (size_t i = 0; i < requests.size(); ++i) {
    const ScoreRequest& r = requests[i];
    const std::string where = "request " + std::to_string(i) + ": ";
    if (r.context.empty() || r.continuation.empty())
      throw Error(where + "the context and the continuation need at least one token each");
    for (const auto* ids : {&r.context, &r.continuation})
      for (int32_t id : *ids)
        if (id < 0 || id >= V)
          throw Error(where + "token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(V) + ")");
    const int64_t rows = static_cast<int64_t>(r.context.size() + r.continuation.size()) - 1;
    if (rows > engine.max_context())
      throw Error(where + "context + continuation need " + std::to_string(rows) + " positions; the context holds " +
                  std::to_string(engine.max_context()));
  }
  std::vector<ScoreResult> out(requests.size());
  std::deque<size_t> pending;
  for (size_t i = 0; i < requests.size(); ++i) pending.push_back(i);
  std::vector<Active> active;
  Batch batch;
  std::vector<std::pair<size_t, int64_t>> row_owner;  // (active index, position) of each logits row
  while (!pending.empty() || !active.empty()) {
    // Admit requests while the pool has room. A request whose context shares whole blocks with
    // one still being computed waits for it, so that it takes those blocks from the cache.
    while (!pending.empty() && static_cast<int64_t>(active.size()) < max_batch_rows) {
      const ScoreRequest& r = requests[pending.front()];
      bool wait = false;
      for (const Active& a : active)
        if (static_cast<int64_t>(common_prefix(r.context, a.tokens)) >= B) wait = true;
      if (wait) break;
      Active a;
      a.req = pending.front();
      a.tokens = r.context;
      a.tokens.insert(a.tokens.end(), r.continuation.begin(), r.continuation.end() - 1);
      a.first_scored = static_cast<int64_t>(r.context.size()) - 1;
      a.seq = engine.create();
      // Blocks from the cache, but never past the first scored position (its logits are needed).
      engine.attach_prefix(a.seq, std::span<const int32_t>(r.context));
      a.need = blocks_to_go(engine, a.seq, a.tokens);
      int64_t reserved = 0;
      for (const Active& o : active) reserved += o.need;
      if (reserved + a.need > engine.blocks_available()) {
        engine.release(a.seq);
        if (active.empty())
          throw PoolExhausted("request " + std::to_string(a.req) + ": " + std::to_string(a.tokens.size()) +
                              " positions do not fit the KV pool even alone");
        break;
      }
      active.push_back(std::move(a));
      pending.pop_front();
    }
    // One forward pass: the next rows of every active request, up to max_batch_rows. Blocks
    // were checked at admission; rows of a request are only ever its own positions.
    batch.clear();
    row_owner.clear();
    int64_t budget = max_batch_rows;
    for (size_t ai = 0; ai < active.size() && budget > 0; ++ai) {
      Active& a = active[ai];
      const int64_t have = engine.length(a.seq), end = static_cast<int64_t>(a.tokens.size());
      const int64_t n = std::min(budget, end - have);
      for (int64_t p = have; p < have + n; ++p) {
        const bool scored = p >= a.first_scored;
        batch.add(a.tokens[static_cast<size_t>(p)], p, a.seq, scored);
        if (scored) row_owner.emplace_back(ai, p);
      }
      budget -= n;
    }
    const std::span<const float> logits = engine.forward(batch);
    for (size_t k = 0; k < row_owner.size(); ++k) {
      const auto [ai, p] = row_owner[k];
      const ScoreRequest& r = requests[active[ai].req];
      ScoreResult& res = out[active[ai].req];
      const int32_t id = r.continuation[static_cast<size_t>(p - active[ai].first_scored)];
      bool top = false;
      const double lp = token_logprob(logits.subspan(k * static_cast<size_t>(V), static_cast<size_t>(V)), id, &top);
      res.token_logprobs.push_back(lp);
      res.logprob += lp;
      res.greedy = res.greedy && top;
    }
    for (Active& a : active) a.need = blocks_to_go(engine, a.seq, a.tokens);
    // Finished requests free their sequences (their full blocks stay cached for the next ones).
    for (size_t ai = active.size(); ai-- > 0;) {
      if (engine.length(active[ai].seq) == static_cast<int64_t>(active[ai].tokens.size())) {
        engine.release(active[ai].seq);
        active.erase(active.begin() + static_cast<std::ptrdiff_t>(ai));
      }
    }
  }
  return out;
}

}  // namespace stablelm::eval
