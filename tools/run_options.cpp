#include "run_options.h"

#include "stablelm/error.h"

namespace stablelm::cli {

void add_run_options(CLI::App& app, RunOptions& o, bool with_kv) {
  app.add_option("--threads", o.threads, "Kernel threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  app.add_option("--weights", o.weights, "Weight format for compute: stored|f32|f16|bf16|q8|q4 (default: stored dtype)")
      ->check(CLI::IsMember(weight_format_names()));
  app.add_option("--matmul-precision", o.matmul,
                 "highest: fp32 activations, reproduces transformers (default); medium: matmuls over bf16 weights "
                 "(prefill and decode) round activations to bf16 (AVX512-BF16 dot products, prefill ~2x faster, "
                 "like llama.cpp)")
      ->check(CLI::IsMember({"highest", "medium"}));
  add_huge_pages_option(app, o.huge_pages);
  if (with_kv)
    app.add_option("--kv", o.kv, "KV cache element type: f32|f16|bf16|q8 (f32 reproduces transformers exactly)")
        ->check(CLI::IsMember(kv_format_names()));
}

void add_huge_pages_option(CLI::App& app, std::string& value) {
  app.add_option("--huge-pages", value,
                 "auto (default): advise the kernel to map the weight matrices with 2 MiB pages where the page "
                 "cache allows (faster decode); off: no advice")
      ->check(CLI::IsMember({"auto", "off"}));
}

LoadOptions RunOptions::load_options() const {
  LoadOptions lo;
  lo.threads = threads;
  lo.weights = parse_weight_format(weights);
  if (matmul == "highest") lo.matmul = MatmulPrecision::Highest;
  else if (matmul == "medium") lo.matmul = MatmulPrecision::Medium;
  else throw Error("--matmul-precision " + matmul + ": expected highest or medium");
  if (huge_pages == "auto") lo.huge_pages = HugePages::Auto;
  else if (huge_pages == "off") lo.huge_pages = HugePages::Off;
  else throw Error("--huge-pages " + huge_pages + ": expected auto or off");
  return lo;
}

KVFormat RunOptions::kv_format() const { return parse_kv_format(kv); }

}  // namespace stablelm::cli
