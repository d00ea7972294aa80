// The decode loop: one batched forward pass over the prompt, then one token per step until eos,
// a stop string, the token budget or the caller says stop.
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "sampling/prefix_constraint.h"
#include "stablelm/check_finite.h"
#include "stablelm/engine.h"
#include "stablelm/error.h"
#include "stablelm/generate.h"
#include "stablelm/model.h"
#include "stablelm/sampling.h"
#include "stablelm/tokenizer.h"

namespace stablelm {

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::Eos: return "eos";
    case StopReason::MaxNewTokens: return "max_new_tokens";
    case StopReason::StopString: return "stop_string";
    case StopReason::Callback: return "callback";
    case StopReason::JsonComplete: return "json_complete";
  }
  return "?";
}

SequenceGenerator::SequenceGenerator(const GenerationConfig& cfg, int64_t vocab_size, std::span<const int32_t> prompt,
                                     uint64_t seed, const Tokenizer* tokenizer)
    : cfg_(cfg),
      tok_(tokenizer),
      budget_((cfg.validate(), cfg.new_token_budget(static_cast<int64_t>(prompt.size())))),
      pipe_(cfg, vocab_size, prompt, seed),
      stops_(cfg.stop_strings) {
  if (!cfg.stop_strings.empty() && tokenizer == nullptr)
    throw Error("generate: stop strings need a tokenizer (the model directory has none)");
  if (cfg.format != GenerationConfig::Format::Text) {
    if (tokenizer == nullptr)
      throw Error("generate: constrained output (JSON mode, tool calls) needs a tokenizer (the model directory has none)");
    // Bounded whitespace between tokens: JSON's "any run" lets a model loop on whitespace.
    constexpr auto kWs = sampling::JsonPrefix::Whitespace::Bounded;
    if (cfg.format == GenerationConfig::Format::JsonObject)
      constraint_ = std::make_unique<sampling::JsonObjectConstraint>(sampling::token_bytes_index(*tokenizer),
                                                                     sampling::JsonPrefix(kWs));
    else if (cfg.format == GenerationConfig::Format::JsonSchema)
      constraint_ = sampling::make_json_schema_constraint(sampling::token_bytes_index(*tokenizer), cfg.json_schema, kWs);
    else if (cfg.format == GenerationConfig::Format::Regex)
      constraint_ = std::make_unique<sampling::RegexConstraint>(sampling::token_bytes_index(*tokenizer), cfg.regex,
                                                                cfg.eos_token_ids);
    else
      constraint_ = sampling::make_tool_calls_constraint(sampling::token_bytes_index(*tokenizer), cfg.tool_call_names,
                                                         cfg.max_tool_calls, kWs, cfg.tool_call_schemas);
    pipe_.set_constraint(constraint_.get());
  }
  if (!stops_.empty()) {
    // The prompt's tail, so a stop string may begin in the prompt as in transformers.
    std::string tail;
    for (size_t i = prompt.size(); i-- > 0 && tail.size() < 256;) tail.insert(0, tokenizer->token_bytes(prompt[i]));
    stops_.reset(tail);
  }
  ids_.reserve(static_cast<size_t>(std::min<int64_t>(budget_, 1 << 16)));
}

SequenceGenerator::Step SequenceGenerator::step(std::span<const float> logits) {
  if (done_) throw Error("SequenceGenerator::step: the sequence has stopped");
  // NaN/Inf logits mean broken weights: an error, not a sample from garbage (every path that
  // generates, the CLI's and the server's, comes through here).
  check_finite_logits(logits, static_cast<int64_t>(logits.size()), "generate");
  Step s;
  s.id = pipe_.choose(logits);
  pipe_.push(s.id);
  ids_.push_back(s.id);
  if (constraint_) {
    constraint_->accept(s.id);
    if (constraint_->complete()) {
      s.done = true;
      s.reason = StopReason::JsonComplete;
    }
  }
  for (int32_t e : cfg_.eos_token_ids)
    if (!s.done && e == s.id) {
      s.done = true;
      s.reason = StopReason::Eos;
      break;
    }
  if (!s.done && !stops_.empty()) {
    s.stop_string_index = stops_.push(tok_->token_bytes(s.id));
    if (s.stop_string_index >= 0) {
      s.done = true;
      s.reason = StopReason::StopString;
    }
  }
  if (!s.done && static_cast<int64_t>(ids_.size()) >= budget_) {
    s.done = true;
    s.reason = StopReason::MaxNewTokens;
  }
  if (s.done) done_ = true, reason_ = s.reason;
  return s;
}

GenerationResult generate(Session& session, std::span<const int32_t> prompt, const GenerationConfig& cfg,
                          const GenerateOptions& opts) {
  using Clock = std::chrono::steady_clock;
  cfg.validate();
  if (prompt.empty()) throw Error("generate: the prompt is empty (no token to start from)");
  const auto prompt_len = static_cast<int64_t>(prompt.size());
  const int64_t budget = cfg.new_token_budget(prompt_len);
  // Checked up front (prompt + max_new_tokens must fit the context) rather than failing halfway
  // through the output.
  if (prompt_len + budget > session.max_context())
    throw Error("generate: prompt of " + std::to_string(prompt_len) + " tokens + " + std::to_string(budget) +
                " new tokens exceeds the context of " + std::to_string(session.max_context()) +
                " positions (shorten the prompt or lower --max-new-tokens)");
  if (session.n_past() > 0) session.truncate(0);

  GenerationResult r;
  r.prompt_tokens = prompt_len;
  const auto t0 = Clock::now();
  std::span<const float> logits = session.forward(prompt, /*all_logits=*/false);
  SequenceGenerator gen(cfg, static_cast<int64_t>(logits.size()), prompt, opts.seed, opts.tokenizer);
  auto t_first = t0;
  for (int64_t step = 0;; ++step) {
    SequenceGenerator::Step s = gen.step(logits);
    if (step == 0) t_first = Clock::now();
    // The callback sees every id, the stopping one included; its "stop" wins over the others.
    if (opts.on_token && !opts.on_token(s.id)) {
      s.done = true;
      s.reason = StopReason::Callback;
      s.stop_string_index = -1;
    }
    if (s.done) {
      r.stop = s.reason;
      r.stop_string_index = s.stop_string_index;
      break;
    }
    logits = session.forward(std::span<const int32_t>(&gen.ids().back(), 1), false);
    ++r.decode_steps;
  }
  r.ids = gen.ids();
  const auto t_end = Clock::now();
  r.prefill_seconds = std::chrono::duration<double>(t_first - t0).count();
  r.decode_seconds = std::chrono::duration<double>(t_end - t_first).count();
  return r;
}

std::vector<GenerationResult> generate_n(Engine& engine, std::span<const int32_t> prompt, int n,
                                         const GenerationConfig& cfg, const MultiGenerateOptions& opts) {
  using Clock = std::chrono::steady_clock;
  cfg.validate();
  if (n < 1) throw Error("num_return_sequences must be at least 1 (got " + std::to_string(n) + ")");
  if (n > 1 && !cfg.sampling())
    throw Error("greedy decoding does not support num_return_sequences > 1 (got " + std::to_string(n) +
                "): every sequence would be the same; sample instead (e.g. --do-sample or --temperature)");
  if (prompt.empty()) throw Error("generate: the prompt is empty (no token to start from)");
  const auto prompt_len = static_cast<int64_t>(prompt.size());
  const int64_t budget = cfg.new_token_budget(prompt_len);
  if (prompt_len + budget > engine.max_context())
    throw Error("generate: prompt of " + std::to_string(prompt_len) + " tokens + " + std::to_string(budget) +
                " new tokens exceeds the context of " + std::to_string(engine.max_context()) +
                " positions (shorten the prompt or lower --max-new-tokens)");
  const int64_t V = engine.model().config().vocab_size;

  struct Sample {
    SeqId seq;
    std::unique_ptr<SequenceGenerator> gen;
    GenerationResult r;
    bool done = false;
  };
  std::vector<Sample> samples(static_cast<size_t>(n));
  const auto t0 = Clock::now();
  const SeqId first = engine.create();
  Batch b;
  for (int64_t t = 0; t < prompt_len; ++t) b.add(prompt[static_cast<size_t>(t)], t, first, t == prompt_len - 1);
  std::vector<float> logits;
  try {
    const auto l = engine.forward(b);
    logits.assign(l.begin(), l.end());
  } catch (...) {
    engine.release(first);
    throw;
  }
  for (int i = 0; i < n; ++i) {
    Sample& s = samples[static_cast<size_t>(i)];
    s.seq = i == 0 ? first : engine.fork(first);  // the prompt's blocks, shared
    s.gen = std::make_unique<SequenceGenerator>(cfg, V, prompt, opts.seed + static_cast<uint64_t>(i), opts.tokenizer);
    s.r.prompt_tokens = prompt_len;
  }
  auto t_first = t0;
  std::vector<int> rows;  // sample of each logits row
  try {
    for (int64_t step = 0;; ++step) {
      // Every live sample chooses from its row (all share the prompt's row at step 0).
      b.clear();
      rows.clear();
      int live = 0;
      for (int i = 0; i < n; ++i) {
        Sample& s = samples[static_cast<size_t>(i)];
        if (s.done) continue;
        const size_t row = step == 0 ? 0 : static_cast<size_t>(live);
        ++live;
        SequenceGenerator::Step st = s.gen->step(std::span<const float>(logits).subspan(row * static_cast<size_t>(V), static_cast<size_t>(V)));
        if (opts.on_token && !opts.on_token(i, st.id)) {
          st.done = true;
          st.reason = StopReason::Callback;
          st.stop_string_index = -1;
        }
        if (st.done) {
          s.done = true;
          s.r.stop = st.reason;
          s.r.stop_string_index = st.stop_string_index;
        } else {
          b.add(st.id, engine.length(s.seq), s.seq, true);
          rows.push_back(i);
        }
      }
      if (step == 0) t_first = Clock::now();
      if (b.empty()) break;
      const auto l = engine.forward(b);
      logits.assign(l.begin(), l.end());
      for (int i : rows) ++samples[static_cast<size_t>(i)].r.decode_steps;
      // Rows are in the order of the samples still live: the next step reads them in that order.
    }
  } catch (...) {
    for (Sample& s : samples) engine.release(s.seq);
    throw;
  }
  const auto t_end = Clock::now();
  std::vector<GenerationResult> out;
  for (Sample& s : samples) {
    s.r.ids = s.gen->ids();
    s.r.prefill_seconds = std::chrono::duration<double>(t_first - t0).count();
    s.r.decode_seconds = std::chrono::duration<double>(t_end - t_first).count();
    engine.release(s.seq);
    out.push_back(std::move(s.r));
  }
  return out;
}

}  // namespace stablelm
