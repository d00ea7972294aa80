// stablelm generate: transformers-style generate() from the command line.
//
//   stablelm generate --model stabilityai/stablelm-2-1_6b --prompt "The weather is always wonderful"
//       --max-new-tokens 64 --temperature 0.7 --top-p 0.95
//
// Streams the new text to stdout as it is generated, then a summary on stderr. The id-level form
// `--ids 1,2,3 --max-new-tokens N --greedy --print-ids` prints {"ids": [new ids]} (golden tests).
//
// Decisions (see also stablelm/generate.h):
// - Defaults come from the model's generation_config.json (transformers' defaults for what it
//   lacks: greedy, top_k 50, max_length 20 counting the prompt), then the options here.
// - Giving --temperature (> 0), --top-k, --top-p, --min-p or --typical-p turns sampling on, as a user
//   of the model card expects; transformers would need do_sample=True. --greedy forces argmax and
//   conflicts with those options; --temperature 0 means greedy.
// - The printed text is the decoded new tokens, with the stop string (and the rest of the token
//   that completed it) included, as transformers returns them; a final eos token is not printed.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "chat_input.h"
#include "command.h"
#include "number_args.h"
#include "ids_arg.h"
#include "model_path.h"
#include "run_options.h"
#include "stablelm/engine.h"
#include "stablelm/error.h"
#include "text_input.h"
#include "stablelm/generate.h"
#include "stablelm/model.h"
#include "stablelm/sampling.h"
#include "stablelm/tokenizer.h"

namespace stablelm::cli {
namespace {

struct Options {
  std::string model, revision;
  std::string ids, prompt, prompt_file;
  bool chat = false;
  std::string messages_file, template_file;  // --chat
  int64_t max_new_tokens = 0, min_new_tokens = 0;
  bool greedy = false, do_sample = false, print_ids = false;
  float temperature = 1.0f;
  int top_k = 0;
  double top_p = 1.0, min_p = 0.0, typical_p = 1.0;
  float repetition_penalty = 1.0f;
  int no_repeat_ngram_size = 0;
  uint64_t seed = 0;
  std::vector<std::string> eos_ids, stops;
  std::string response_format = "text";
  std::string json_schema_file;
  std::optional<std::string> regex;
  std::string truncate = "none";
  int num_return_sequences = 1;
  RunOptions run;
  // Which options were given (CLI11 counts them after parsing).
  CLI::Option *o_ids, *o_prompt, *o_prompt_file, *o_max_new, *o_min_new, *o_temperature, *o_top_k, *o_top_p,
      *o_min_p, *o_typical_p, *o_rep, *o_ngram, *o_seed, *o_eos, *o_stop;
};

bool given(const CLI::Option* o) { return o->count() > 0; }

// "\n", "\t", "\r", "\\" in --stop values, so a newline can be typed without shell quoting tricks.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    if (c == 'n') out += '\n';
    else if (c == 't') out += '\t';
    else if (c == 'r') out += '\r';
    else if (c == '\\') out += '\\';
    else {
      out += '\\';
      out += c;
    }
  }
  return out;
}

std::string read_prompt_file(const std::string& path) {
  return read_text_file(path, "--prompt-file");
}

void check_conflicts(const Options& o) {
  if (given(o.o_ids) && (given(o.o_prompt) || given(o.o_prompt_file)))
    throw Error("generate: --ids and --prompt/--prompt-file both give the prompt: use one");
  if (given(o.o_prompt) && given(o.o_prompt_file))
    throw Error("generate: --prompt and --prompt-file both give the prompt: use one");
}

// The sampling options as given (the rules that apply them live in the library).
SamplingRequest sampling_request(const Options& o) {
  SamplingRequest r;
  r.greedy = o.greedy;
  r.do_sample = o.do_sample;
  if (given(o.o_temperature)) r.temperature = o.temperature;
  if (given(o.o_top_k)) r.top_k = o.top_k;
  if (given(o.o_top_p)) r.top_p = o.top_p;
  if (given(o.o_min_p)) r.min_p = o.min_p;
  if (given(o.o_typical_p)) r.typical_p = o.typical_p;
  return r;
}

// Model defaults, then the command line on top.
GenerationConfig build_config(const Options& o, const std::filesystem::path& dir, const ModelConfig& mc) {
  GenerationConfig g = GenerationConfig::for_model(dir, mc);
  if (given(o.o_rep)) g.repetition_penalty = o.repetition_penalty;
  if (given(o.o_ngram)) g.no_repeat_ngram_size = o.no_repeat_ngram_size;
  if (given(o.o_max_new) && o.max_new_tokens > 0) g.max_new_tokens = o.max_new_tokens;  // 0: see run()
  if (given(o.o_min_new)) g.min_new_tokens = o.min_new_tokens;
  if (given(o.o_eos)) {
    g.eos_token_ids.clear();
    for (const auto& item : o.eos_ids)
      for (int32_t id : parse_ids(item, "--eos-id")) {
        if (id >= mc.vocab_size)
          throw Error("--eos-id " + std::to_string(id) + " is outside the vocabulary (vocab_size " +
                      std::to_string(mc.vocab_size) + ")");
        g.eos_token_ids.push_back(id);
      }
  }
  if (given(o.o_stop)) {
    g.stop_strings.clear();
    for (const auto& s : o.stops) g.stop_strings.push_back(unescape(s));
  }
  if (o.response_format == "json_object") g.format = GenerationConfig::Format::JsonObject;
  if (!o.json_schema_file.empty()) {
    if (o.response_format == "json_object")
      throw Error("generate: --json-schema and --response-format json_object are two output formats: give one");
    g.format = GenerationConfig::Format::JsonSchema;
    g.json_schema = compile_json_schema(read_text_file(o.json_schema_file, "--json-schema"));
  }
  if (o.regex) {
    if (g.format != GenerationConfig::Format::Text)
      throw Error("generate: --regex and " + std::string(o.json_schema_file.empty() ? "--response-format json_object"
                                                                                     : "--json-schema") +
                  " are two output formats: give one");
    g.format = GenerationConfig::Format::Regex;
    g.regex = compile_regex(*o.regex);
  }
  return apply_sampling(g, sampling_request(o));
}

// --num-return-sequences K: K samples in one batch per step, sharing the prompt's KV blocks.
// Text: each sample after a "--- sample i ---" line; --print-ids: {"ids": [[...], ...]}.
int run_many(const Options& o, const Model& model, const Tokenizer* tok, const std::vector<int32_t>& prompt,
             const GenerationConfig& cfg, int64_t budget, uint64_t seed) {
  const int k = o.num_return_sequences;
  EngineOptions eo;
  eo.kv = o.run.kv_format();
  eo.max_context = static_cast<int64_t>(prompt.size()) + budget;
  eo.kv_tokens = static_cast<int64_t>(prompt.size()) + k * (budget + eo.block_size);
  eo.prefix_cache = false;
  Engine engine(model, eo);
  MultiGenerateOptions mo;
  mo.seed = seed;
  mo.tokenizer = tok;
  const std::vector<GenerationResult> rs = generate_n(engine, prompt, k, cfg, mo);
  if (o.print_ids) {
    nlohmann::json ids = nlohmann::json::array();
    for (const auto& r : rs) ids.push_back(r.ids);
    std::printf("%s\n", nlohmann::json{{"ids", ids}}.dump().c_str());
  } else {
    const auto& eos = cfg.eos_token_ids;
    for (size_t i = 0; i < rs.size(); ++i) {
      std::vector<int32_t> ids = rs[i].ids;
      if (!ids.empty() && std::find(eos.begin(), eos.end(), ids.back()) != eos.end()) ids.pop_back();  // the final eos is not printed
      std::printf("%s--- sample %zu ---\n%s\n", i ? "\n" : "", i + 1, tok->decode(ids).c_str());
    }
  }
  std::fflush(stdout);
  size_t total = 0;
  for (const auto& r : rs) total += r.ids.size();
  const GenerationResult& r0 = rs.front();
  std::fprintf(stderr, "prompt tokens: %lld, samples: %d, generated tokens: %zu, prefill %.3f s, decode %.3f s (%.2f tok/s all samples), seed %llu (sample i: seed + i)\n",
               static_cast<long long>(r0.prompt_tokens), k, total, r0.prefill_seconds, r0.decode_seconds,
               r0.decode_seconds > 0 ? static_cast<double>(total - rs.size()) / r0.decode_seconds : 0.0,
               static_cast<unsigned long long>(seed));
  return 0;
}

int run(const Options& o) {
  check_conflicts(o);
  if (o.num_return_sequences < 1) throw Error("--num-return-sequences must be at least 1");
  if (o.truncate != "left" && o.truncate != "none")
    throw Error("--truncate " + o.truncate + ": expected left or none");
  const auto dir = resolve_model_dir(o.model, o.revision);
  auto model = Model::load(dir, o.run.load_options());
  const ModelConfig& mc = model->config();
  GenerationConfig cfg = build_config(o, dir, mc);
  for (const auto& w : cfg.warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());

  // A tokenizer is needed for text in (prompt) or out (streaming), stop strings and JSON mode.
  const bool text_in = !given(o.o_ids);
  const bool text_out = !o.print_ids;
  std::unique_ptr<Tokenizer> tok;
  if (text_in || text_out || !cfg.stop_strings.empty() || cfg.format != GenerationConfig::Format::Text)
    tok = Tokenizer::from_dir(dir);

  std::vector<int32_t> prompt;
  if (o.chat != !o.messages_file.empty()) throw Error("generate: --chat takes its conversation from --messages FILE.json");
  if (!o.chat && !o.template_file.empty()) throw Error("generate: --template is for --chat");
  if (o.chat && (given(o.o_ids) || given(o.o_prompt) || given(o.o_prompt_file)))
    throw Error("generate: --chat --messages gives the prompt; drop --ids/--prompt/--prompt-file");
  if (o.chat) {
    prompt = chat_prompt_from_files(dir, *tok, o.messages_file, o.template_file, cfg, given(o.o_eos));
  } else if (given(o.o_ids)) {
    prompt = parse_ids(o.ids, "--ids");
  } else {
    std::string text;
    if (given(o.o_prompt)) text = o.prompt;
    else if (given(o.o_prompt_file)) text = read_prompt_file(o.prompt_file);
    else text = read_stdin_text("the prompt");
    prompt = tok->encode(text);
  }
  start_prompt(prompt, cfg, mc.vocab_size);
  // --max-new-tokens 0: nothing to generate (kept from the id-level contract).
  if (given(o.o_max_new) && o.max_new_tokens == 0) {
    if (o.print_ids) std::printf("{\"ids\": []}\n");
    return 0;
  }

  const PromptFit fit = fit_prompt(prompt, cfg, mc.max_position_embeddings, o.truncate == "left");
  if (fit.dropped > 0)
    std::fprintf(stderr, "note: prompt truncated on the left from %lld to %zu tokens\n",
                 static_cast<long long>(fit.dropped) + static_cast<long long>(prompt.size()), prompt.size());
  const int64_t budget = fit.budget;

  const uint64_t seed = given(o.o_seed) ? o.seed : (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  if (o.num_return_sequences != 1) return run_many(o, *model, tok.get(), prompt, cfg, budget, seed);

  Session session(*model, static_cast<int64_t>(prompt.size()) + budget, o.run.kv_format());
  GenerateOptions gopts;
  gopts.seed = seed;
  gopts.tokenizer = tok.get();
  std::optional<IncrementalDecoder> dec;
  char last_char = 0;  // of the streamed text
  if (text_out) dec.emplace(*tok);
  const auto& eos = cfg.eos_token_ids;
  if (text_out) {
    gopts.on_token = [&](int32_t id) {
      if (std::find(eos.begin(), eos.end(), id) != eos.end()) return true;  // the final eos is not printed
      const std::string piece = dec->push(id);
      if (!piece.empty()) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        last_char = piece.back();
        std::fflush(stdout);
      }
      return !std::ferror(stdout);  // stdout failed (disk full, closed): stop; main reports it
    };
  }

  const GenerationResult r = generate(session, prompt, cfg, gopts);

  if (text_out) {
    const std::string rest = dec->finish();
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    if (!rest.empty()) last_char = rest.back();
    const bool tty = isatty(STDOUT_FILENO);
    if (tty) std::fputc('\n', stdout);  // a pipe gets exactly the text
    std::fflush(stdout);
    // ... so when stdout and stderr share a stream, the summary starts on a line of its own.
    if (!tty && last_char != '\n' && last_char != 0) std::fputc('\n', stderr);
  } else {
    std::printf("%s\n", nlohmann::json{{"ids", r.ids}}.dump().c_str());
    std::fflush(stdout);
  }
  const double pre = r.prefill_seconds > 0 ? static_cast<double>(r.prompt_tokens) / r.prefill_seconds : 0.0;
  const double dec_rate = r.decode_seconds > 0 ? static_cast<double>(r.decode_steps) / r.decode_seconds : 0.0;
  std::fprintf(stderr,
               "prompt tokens: %lld, generated tokens: %zu (stop: %s), prefill: %.2f tok/s (%.3f s), "
               "decode: %.2f tok/s (%.3f s), %s, seed %llu\n",
               static_cast<long long>(r.prompt_tokens), r.ids.size(), stop_reason_name(r.stop), pre,
               r.prefill_seconds, dec_rate, r.decode_seconds, cfg.sampling() ? "sampling" : "greedy",
               static_cast<unsigned long long>(gopts.seed));
  return 0;
}

Registration reg("generate", "Generate text (or token ids) like transformers' generate()", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  add_model_options(app, o->model, o->revision);
  o->o_ids = app.add_option("--ids", o->ids, "Prompt as token ids, comma-separated (e.g. 1,2,3)");
  o->o_prompt = app.add_option("--prompt", o->prompt, "Prompt text");
  o->o_prompt_file = app.add_option("--prompt-file", o->prompt_file, "Read the prompt text from a file (as is)");
  app.add_flag("--chat", o->chat, "Prompt with --messages rendered by the model's chat template (add_generation_prompt)");
  app.add_option("--messages", o->messages_file, "With --chat: a JSON file of OpenAI-style messages");
  app.add_option("--template", o->template_file, "With --chat: a chat template file (.jinja) instead of the model's");
  o->o_max_new = app.add_option("--max-new-tokens", o->max_new_tokens,
                                "Tokens to generate at most (default: generation_config.json, else max_length 20 "
                                "counting the prompt)")
                     ->check(count_at_most(kMaxTokenCount));
  o->o_min_new = app.add_option("--min-new-tokens", o->min_new_tokens, "Suppress eos until this many new tokens")
                     ->check(count_at_most(kMaxTokenCount));
  app.add_flag("--greedy", o->greedy, "Greedy decoding (argmax); conflicts with sampling options");
  app.add_flag("--do-sample", o->do_sample, "Sample (implied by --temperature > 0, --top-k/-p, --min-p, --typical-p)");
  o->o_temperature = app.add_option("--temperature", o->temperature, "Sampling temperature (0 = greedy)");
  o->o_top_k = app.add_option("--top-k", o->top_k, "Keep the k most probable tokens (0 = off; default 50)");
  o->o_top_p = app.add_option("--top-p", o->top_p, "Nucleus sampling mass in (0, 1] (1 = off)");
  o->o_min_p = app.add_option("--min-p", o->min_p, "Drop tokens below min_p x the top probability");
  o->o_typical_p = app.add_option("--typical-p", o->typical_p, "Typical-decoding mass in (0, 1] (1 = off)");
  o->o_rep = app.add_option("--repetition-penalty", o->repetition_penalty, "Penalty for seen tokens (1 = off)");
  o->o_ngram = app.add_option("--no-repeat-ngram-size", o->no_repeat_ngram_size, "Never repeat an n-gram of this size");
  o->o_seed = app.add_option("--seed", o->seed, "PRNG seed: same seed + options + machine = same text (default: random)")
                 ->check(uint64_value());
  o->o_eos = app.add_option("--eos-id", o->eos_ids, "Stop at these ids (repeatable or comma-separated; replaces "
                                                    "generation_config.json's eos_token_id)")
                 ->take_all();
  o->o_stop = app.add_option("--stop", o->stops, "Stop once the output ends with this text (repeatable; \\n \\t "
                                                 "escapes); the stop text is printed")
                  ->take_all();
  app.add_option("--response-format", o->response_format,
                 "json_object: only tokens that keep the output one JSON object (JSON mode; stops when it "
                 "closes); text: free text (default)")
      ->check(CLI::IsMember({"text", "json_object"}));
  app.add_option("--json-schema", o->json_schema_file,
                 "A JSON Schema file: only tokens that keep the output a value it allows (properties in the "
                 "schema's order; stops when the value is complete); docs/GENERATE.md lists the keywords");
  app.add_option("--regex", o->regex,
                 "Only tokens that keep the output a prefix of a match of this regex (ECMAScript syntax, the whole "
                 "output; end of sequence allowed once it matches; stops where the match cannot go on)");
  app.add_option("--truncate", o->truncate, "left: drop the prompt's oldest tokens to fit the context; none: error")
      ->check(CLI::IsMember({"left", "none"}));
  app.add_option("--num-return-sequences", o->num_return_sequences,
                 "Samples of the prompt to generate, in one batch sharing the prompt's KV (sample i uses seed + i)");
  app.add_flag("--print-ids", o->print_ids, "Print the new token ids as JSON {\"ids\": [...]} instead of text");
  add_run_options(app, o->run);
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace stablelm::cli
