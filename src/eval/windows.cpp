// How a token sequence is cut into windows: transformers' sliding window or llama-perplexity's
// chunks (include/stablelm/eval.h).
#include <algorithm>
#include <string>

#include "stablelm/error.h"
#include "stablelm/eval.h"

namespace stablelm::eval {

const char* mode_name(Mode m) { return m == Mode::Sliding ? "sliding" : "chunks"; }

WindowPlan plan_windows(int64_t n, Mode mode, int64_t ctx, int64_t stride) {
  WindowPlan p;
  p.mode = mode;
  p.ctx = ctx;
  if (n < 2) throw Error("perplexity: the text has " + std::to_string(n) + " token(s); at least 2 are needed");
  if (mode == Mode::Sliding) {
    if (ctx < 2) throw Error("--ctx " + std::to_string(ctx) + ": a window needs at least 2 tokens");
    if (stride < 1) throw Error("--stride " + std::to_string(stride) + ": must be at least 1");
    if (stride > ctx)
      throw Error("--stride " + std::to_string(stride) + " is larger than --ctx " + std::to_string(ctx) +
                  ": tokens between the windows would never be scored");
    p.stride = stride;
    // transformers' loop: for begin in range(0, n, stride): end = min(begin + ctx, n); the
    // labels before prev_end are masked, and the window's first label is dropped by the shift.
    int64_t prev_end = 0;
    for (int64_t begin = 0; begin < n; begin += stride) {
      const int64_t end = std::min(begin + ctx, n);
      Window w{begin, end, std::max(prev_end, begin + 1)};
      if (w.scored() > 0) p.windows.push_back(w);
      prev_end = end;
      if (end == n) break;
    }
  } else {
    if (ctx < 3) throw Error("--ctx " + std::to_string(ctx) + ": a chunk needs at least 3 tokens to score its second half");
    if (n < ctx)
      throw Error("--chunks: the text has " + std::to_string(n) + " tokens, fewer than one chunk of --ctx " +
                  std::to_string(ctx) + "; give a smaller --ctx or use the sliding window");
    p.stride = ctx;
    // llama-perplexity: first = ctx/2; the logits at first .. ctx-2 score tokens first+1 .. ctx-1.
    for (int64_t begin = 0; begin + ctx <= n; begin += ctx) p.windows.push_back({begin, begin + ctx, begin + ctx / 2 + 1});
    p.unused_tokens = n % ctx;
  }
  for (const Window& w : p.windows) {
    p.scored_tokens += w.scored();
    p.evaluated_tokens += w.end - w.begin - 1;
  }
  return p;
}

}  // namespace stablelm::eval
