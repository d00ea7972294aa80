// Session: one sequence on an engine of its own, the single-sequence API every command used
// before the batched engine (and still uses where one sequence is all there is).
#include <string>

#include "stablelm/engine.h"
#include "stablelm/error.h"
#include "stablelm/model.h"

namespace stablelm {

class SessionImpl {
 public:
  SessionImpl(const Model& model, int64_t max_context, KVFormat kv)
      : engine(model, options(model, max_context, kv)), seq(engine.create()) {}

  static EngineOptions options(const Model& model, int64_t max_context, KVFormat kv) {
    EngineOptions o;
    o.kv = kv;
    o.max_context = max_context > 0 ? max_context : model.config().max_position_embeddings;
    o.kv_tokens = o.max_context;
    o.prefix_cache = false;
    return o;
  }

  Engine engine;
  SeqId seq;
  Batch batch;
};

Session::Session(const Model& model, int64_t max_context, KVFormat kv)
    : impl_(std::make_unique<SessionImpl>(model, max_context, kv)) {}
Session::~Session() = default;

std::span<const float> Session::forward(std::span<const int32_t> tokens, bool all_logits) {
  const int64_t T = static_cast<int64_t>(tokens.size());
  if (T == 0) throw Error("forward: no tokens");
  const int64_t past = n_past();
  if (past + T > max_context())
    throw Error("context overflow: " + std::to_string(past) + " cached + " + std::to_string(T) + " new tokens exceed the " +
                std::to_string(max_context()) + "-token context");
  Batch& b = impl_->batch;
  b.clear();
  for (int64_t t = 0; t < T; ++t) b.add(tokens[static_cast<size_t>(t)], past + t, impl_->seq, all_logits || t == T - 1);
  return impl_->engine.forward(b);
}

int64_t Session::n_past() const { return impl_->engine.length(impl_->seq); }
int64_t Session::max_context() const { return impl_->engine.max_context(); }
void Session::truncate(int64_t n) {
  if (n < 0 || n > n_past())
    throw Error("truncate(" + std::to_string(n) + "): the session holds " + std::to_string(n_past()) + " positions");
  impl_->engine.truncate(impl_->seq, n);
}
void Session::set_trace(TraceFn fn) { impl_->engine.set_trace(std::move(fn)); }

}  // namespace stablelm
