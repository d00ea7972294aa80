// WindowScorer over one Session: one window at a time, the cache cleared in between.
#include "stablelm/eval.h"

namespace stablelm::eval {
namespace {

class SessionScorer final : public WindowScorer {
 public:
  SessionScorer(const Model& model, int64_t ctx, KVFormat kv)
      : session_(model, ctx, kv), vocab_(static_cast<size_t>(model.config().vocab_size)) {}

  void score(std::span<const int32_t> tokens, std::span<const Window> windows, const RowFn& on_row) override {
    for (const Window& w : windows) {
      session_.truncate(0);
      // As `stablelm score` runs context + continuation: the tokens before the first scored
      // token's predecessor without logits, then the rest with every row; the window's last
      // token predicts nothing scored, so it is not run.
      const auto pred = static_cast<size_t>(w.first_scored - 1);
      const auto begin = static_cast<size_t>(w.begin), end = static_cast<size_t>(w.end);
      if (pred > begin) session_.forward(tokens.subspan(begin, pred - begin));
      std::span<const float> logits = session_.forward(tokens.subspan(pred, end - 1 - pred), /*all_logits=*/true);
      for (int64_t t = w.first_scored; t < w.end; ++t)
        on_row(t, logits.subspan(static_cast<size_t>(t - w.first_scored) * vocab_, vocab_));
    }
  }

 private:
  Session session_;
  size_t vocab_;
};

}  // namespace

std::unique_ptr<WindowScorer> make_session_scorer(const Model& model, int64_t ctx, KVFormat kv) {
  return std::make_unique<SessionScorer>(model, ctx, kv);
}

}  // namespace stablelm::eval
