// WindowScorer over the batched engine: the windows handed to one score() call run together, each
// as its own sequence, in forward passes of at most max_rows rows. Windows are scheduled in order
// (a window's rows all come before the next window's), so rows reach on_row in window order with
// targets ascending. The engine is row-invariant, so every NLL is bitwise what the one-window
// Session scorer (and `stablelm score`) computes.
#include <algorithm>

#include "stablelm/engine.h"
#include "stablelm/eval.h"

namespace stablelm::eval {
namespace {

class EngineScorer final : public WindowScorer {
 public:
  EngineScorer(const Model& model, int64_t ctx, KVFormat kv, int64_t windows, int64_t max_rows)
      : engine_(model, options(ctx, kv, windows)), max_rows_(std::max<int64_t>(max_rows, 1)),
        vocab_(static_cast<size_t>(model.config().vocab_size)) {}

  static EngineOptions options(int64_t ctx, KVFormat kv, int64_t windows) {
    EngineOptions o;
    o.kv = kv;
    o.max_context = ctx;
    o.kv_tokens = std::max<int64_t>(windows, 1) * (ctx + o.block_size);  // every window's sequence at once
    o.prefix_cache = false;  // windows overlap by design, but each must be computed as scored
    return o;
  }

  void score(std::span<const int32_t> tokens, std::span<const Window> windows, const RowFn& on_row) override {
    struct Seq {
      SeqId id;
      int64_t next;  // next position (relative to the window's begin) to run
      int64_t rows;  // positions to run: end - begin - 1 (the last token predicts nothing scored)
      int64_t pred;  // first position whose logits are wanted: first_scored - 1 - begin
    };
    std::vector<Seq> seqs;
    for (const Window& w : windows) seqs.push_back({engine_.create(), 0, w.end - w.begin - 1, w.first_scored - 1 - w.begin});
    Batch b;
    std::vector<std::pair<size_t, int64_t>> wanted;  // (window, position) of each logits row
    size_t first_open = 0;
    while (first_open < seqs.size()) {
      b.clear();
      wanted.clear();
      int64_t budget = max_rows_;
      for (size_t i = first_open; i < seqs.size() && budget > 0; ++i) {
        Seq& s = seqs[i];
        const int64_t n = std::min(budget, s.rows - s.next);
        for (int64_t p = s.next; p < s.next + n; ++p) {
          const bool want = p >= s.pred;
          b.add(tokens[static_cast<size_t>(windows[i].begin + p)], p, s.id, want);
          if (want) wanted.emplace_back(i, p);
        }
        s.next += n;
        budget -= n;
      }
      const std::span<const float> logits = engine_.forward(b);
      for (size_t k = 0; k < wanted.size(); ++k) {
        const auto [i, p] = wanted[k];
        on_row(windows[i].begin + p + 1, logits.subspan(k * vocab_, vocab_));
      }
      while (first_open < seqs.size() && seqs[first_open].next == seqs[first_open].rows) engine_.release(seqs[first_open++].id);
    }
  }

 private:
  Engine engine_;
  int64_t max_rows_;
  size_t vocab_;
};

}  // namespace

std::unique_ptr<WindowScorer> make_engine_scorer(const Model& model, int64_t ctx, KVFormat kv, int64_t windows,
                                                 int64_t max_rows) {
  return std::make_unique<EngineScorer>(model, ctx, kv, windows, max_rows);
}

}  // namespace stablelm::eval
