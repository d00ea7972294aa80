// The saved-logits file of a base run (layout in include/stablelm/eval.h): top-k log-probs
// plus the rest's mass per scored token, under a JSON header that names the model and tokens.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include <nlohmann/json.hpp>

#include "hub/sha256.h"
#include "io/json.h"
#include "model/model_impl.h"
#include "kernels/kernels.h"
#include "stablelm/error.h"
#include "stablelm/eval.h"

namespace stablelm::eval {
namespace {

static_assert(std::endian::native == std::endian::little, "the saved-logits file is written in host order");

constexpr char kMagic[8] = {'S', 'L', 'M', 'L', 'O', 'G', 'P', '1'};
constexpr uint64_t kMaxHeader = 1 << 20;

size_t row_bytes(int64_t top_k) { return 8 + static_cast<size_t>(top_k) * 8; }

std::string sha256_hex(const void* data, size_t n) {
  hub::Sha256 h;
  h.update(data, n);
  return h.hex_digest();
}

Mode parse_mode(const std::string& s, const std::string& where) {
  if (s == "sliding") return Mode::Sliding;
  if (s == "chunks") return Mode::Chunks;
  throw Error(where + ": unknown mode \"" + s + "\"");
}

}  // namespace

ModelIdentity model_identity(const Model& model) {
  const ModelConfig& c = model.config();
  // The fields the logits depend on; not torch_dtype (the same model in another format is the
  // same model) nor max_position_embeddings.
  const nlohmann::json arch{{"vocab_size", c.vocab_size},
                            {"hidden_size", c.hidden_size},
                            {"intermediate_size", c.intermediate_size},
                            {"num_hidden_layers", c.num_hidden_layers},
                            {"num_attention_heads", c.num_attention_heads},
                            {"num_key_value_heads", c.num_key_value_heads},
                            {"partial_rotary_factor", c.partial_rotary_factor},
                            {"rope_theta", c.rope_theta},
                            {"layer_norm_eps", c.layer_norm_eps},
                            {"use_qkv_bias", c.use_qkv_bias},
                            {"qk_layernorm", c.qk_layernorm},
                            {"use_parallel_residual", c.use_parallel_residual},
                            {"tie_word_embeddings", c.tie_word_embeddings},
                            {"hidden_act", c.hidden_act}};
  ModelIdentity id;
  const std::string a = arch.dump();
  id.architecture = sha256_hex(a.data(), a.size());
  id.vocab_size = c.vocab_size;
  // Sign bits of three embedding rows: rounding to bf16/f16 keeps every sign (to -0.0 at worst),
  // and quantized directories keep the embedding in its stored dtype, so every format of one
  // model gives the same bits and another random or trained model almost surely does not.
  const auto H = static_cast<size_t>(c.hidden_size);
  std::vector<float> row(H);
  std::vector<uint8_t> bits;
  for (int64_t r : {int64_t{0}, c.vocab_size / 2, c.vocab_size - 1}) {
    model_impl(model).embed_rows.read(r, row.data());
    for (float v : row) bits.push_back(std::signbit(v) ? 1 : 0);
  }
  id.weights = sha256_hex(bits.data(), bits.size());
  return id;
}

std::string tokens_sha256(std::span<const int32_t> tokens) { return sha256_hex(tokens.data(), tokens.size_bytes()); }

SavedRow make_saved_row(std::span<const float> logits, const LogSoftmax& ls, int32_t target, int64_t top_k) {
  const auto V = logits.size();
  const auto k = std::min(static_cast<size_t>(top_k), V);
  std::vector<uint32_t> order(V);
  std::iota(order.begin(), order.end(), 0u);
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](uint32_t a, uint32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  SavedRow r;
  r.target_logprob = static_cast<float>(ls(logits[static_cast<size_t>(target)]));
  r.ids.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k));
  r.logprobs.resize(k);
  for (size_t i = 0; i < k; ++i) r.logprobs[i] = static_cast<float>(ls(logits[r.ids[i]]));
  r.rest_mass = static_cast<float>(rest_mass(logits, ls, r.ids));
  return r;
}

double rest_mass(std::span<const float> logits, const LogSoftmax& ls, std::span<const uint32_t> ids) {
  // Summed directly (1 - sum(top) would cancel when the top holds almost all): the row with the
  // top entries at -inf, through the vectorized Σ exp(x - max) (fp32 terms summed in double, in
  // a fixed order, so a run against its own saved file gets bitwise the saved value), over Σ all.
  std::vector<float> rest(logits.begin(), logits.end());
  for (uint32_t id : ids) rest[id] = -std::numeric_limits<float>::infinity();
  return kernels::sum_exp(rest.data(), static_cast<int64_t>(rest.size()), ls.max) * std::exp(-ls.log_sum);
}

// ---- writer ---------------------------------------------------------------------------------

LogitsWriter::LogitsWriter(const std::filesystem::path& path, const LogitsFileHeader& header)
    : path_(path), out_(path, std::ios::binary | std::ios::trunc), header_(header) {
  if (!out_) throw Error("--save-logits " + path.string() + ": cannot create the file");
  if (header_.top_k < 1) throw Error("--save-logits-top-k: must be at least 1");
  header_.top_k = std::min(header_.top_k, header_.model.vocab_size);
  const nlohmann::json j{{"format", "stablelm saved log-probabilities"},
                         {"version", 1},
                         {"model",
                          {{"architecture_sha256", header_.model.architecture},
                           {"embedding_signs_sha256", header_.model.weights},
                           {"vocab_size", header_.model.vocab_size},
                           {"description", header_.description}}},
                         {"tokens", {{"count", header_.token_count}, {"sha256", header_.token_sha256}}},
                         {"mode", mode_name(header_.mode)},
                         {"ctx", header_.ctx},
                         {"stride", header_.stride},
                         {"top_k", header_.top_k},
                         {"rows", header_.rows},
                         {"row_layout", "f32 target_logprob, f32 rest_mass, u32 ids[top_k], f32 logprobs[top_k]"}};
  const std::string text = j.dump();
  const uint64_t n = text.size();
  out_.write(kMagic, sizeof kMagic);
  out_.write(reinterpret_cast<const char*>(&n), sizeof n);
  out_.write(text.data(), static_cast<std::streamsize>(n));
  if (!out_) throw Error("--save-logits " + path.string() + ": write failed");
}

void LogitsWriter::add(std::span<const float> logits, const LogSoftmax& ls, int32_t target) {
  const SavedRow r = make_saved_row(logits, ls, target, header_.top_k);
  out_.write(reinterpret_cast<const char*>(&r.target_logprob), 4);
  out_.write(reinterpret_cast<const char*>(&r.rest_mass), 4);
  out_.write(reinterpret_cast<const char*>(r.ids.data()), static_cast<std::streamsize>(r.ids.size() * 4));
  out_.write(reinterpret_cast<const char*>(r.logprobs.data()), static_cast<std::streamsize>(r.logprobs.size() * 4));
  ++written_;
}

void LogitsWriter::finish() {
  out_.flush();
  if (!out_) throw Error("--save-logits " + path_.string() + ": write failed (disk full?)");
  if (written_ != header_.rows)
    throw Error("--save-logits " + path_.string() + ": wrote " + std::to_string(written_) + " rows, the header says " +
                std::to_string(header_.rows));
  out_.close();
}

// ---- reader ---------------------------------------------------------------------------------

LogitsReader::LogitsReader(const std::filesystem::path& path) : path_(path), in_(path, std::ios::binary) {
  const std::string where = "--kl-divergence " + path.string();
  if (!in_) throw Error(where + ": cannot open the file");
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(where + ": " + ec.message());
  char magic[8];
  uint64_t n = 0;
  if (!in_.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0)
    throw Error(where + ": not a saved-logits file of stablelm perplexity --save-logits");
  if (!in_.read(reinterpret_cast<char*>(&n), 8) || n > kMaxHeader || 16 + n > size)
    throw Error(where + ": truncated or corrupt header");
  std::string text(n, '\0');
  in_.read(text.data(), static_cast<std::streamsize>(n));
  try {
    const nlohmann::json j = io::parse_json(text, where);
    if (j.at("version").get<int>() != 1) throw Error(where + ": unsupported version " + j.at("version").dump());
    header_.model.architecture = j.at("model").at("architecture_sha256").get<std::string>();
    header_.model.weights = j.at("model").at("embedding_signs_sha256").get<std::string>();
    header_.model.vocab_size = j.at("model").at("vocab_size").get<int64_t>();
    header_.description = j.at("model").at("description").get<std::string>();
    header_.token_count = j.at("tokens").at("count").get<int64_t>();
    header_.token_sha256 = j.at("tokens").at("sha256").get<std::string>();
    header_.mode = parse_mode(j.at("mode").get<std::string>(), where);
    header_.ctx = j.at("ctx").get<int64_t>();
    header_.stride = j.at("stride").get<int64_t>();
    header_.top_k = j.at("top_k").get<int64_t>();
    header_.rows = j.at("rows").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": bad header: " + e.what());
  }
  if (header_.top_k < 1 || header_.top_k > header_.model.vocab_size || header_.rows < 0)
    throw Error(where + ": bad header: top_k " + std::to_string(header_.top_k) + ", rows " + std::to_string(header_.rows));
  const uintmax_t want = 16 + n + static_cast<uintmax_t>(header_.rows) * row_bytes(header_.top_k);
  if (size != want)
    throw Error(where + ": " + (size < want ? "truncated" : "has trailing bytes") + ": " + std::to_string(size) +
                " bytes, expected " + std::to_string(want) + " for " + std::to_string(header_.rows) + " rows of top " +
                std::to_string(header_.top_k));
}

void LogitsReader::check_matches(const ModelIdentity& model, std::span<const int32_t> tokens) const {
  const std::string where = "--kl-divergence " + path_.string();
  if (header_.model.architecture != model.architecture || header_.model.vocab_size != model.vocab_size)
    throw Error(where + ": saved from another model (" + header_.description +
                "): its architecture (config.json) differs from this model's");
  if (header_.model.weights != model.weights)
    throw Error(where + ": saved from another model (" + header_.description +
                "): same architecture, but other weights (the embedding differs)");
  if (header_.token_count != static_cast<int64_t>(tokens.size()) || header_.token_sha256 != tokens_sha256(tokens))
    throw Error(where + ": saved for other tokens (" + std::to_string(header_.token_count) +
                " tokens); this run has " + std::to_string(tokens.size()) + " different ones: give the same text");
}

void LogitsReader::check_plan(const WindowPlan& plan) const {
  const LogitsFileHeader& h = header_;
  if (h.mode != plan.mode || h.ctx != plan.ctx || h.stride != plan.stride)
    throw Error("--kl-divergence " + path_.string() + ": saved with mode " + mode_name(h.mode) + ", --ctx " +
                std::to_string(h.ctx) + ", --stride " + std::to_string(h.stride) + "; this run has " +
                mode_name(plan.mode) + ", --ctx " + std::to_string(plan.ctx) + ", --stride " +
                std::to_string(plan.stride) + ": run with the base's settings");
  if (h.rows != plan.scored_tokens)
    throw Error("--kl-divergence " + path_.string() + ": holds " + std::to_string(h.rows) + " rows, this run scores " +
                std::to_string(plan.scored_tokens) + " tokens");
}

SavedRow LogitsReader::next() {
  if (read_ >= header_.rows) throw Error("--kl-divergence " + path_.string() + ": more tokens scored than rows saved");
  SavedRow r;
  const auto k = static_cast<size_t>(header_.top_k);
  r.ids.resize(k);
  r.logprobs.resize(k);
  in_.read(reinterpret_cast<char*>(&r.target_logprob), 4);
  in_.read(reinterpret_cast<char*>(&r.rest_mass), 4);
  in_.read(reinterpret_cast<char*>(r.ids.data()), static_cast<std::streamsize>(k * 4));
  in_.read(reinterpret_cast<char*>(r.logprobs.data()), static_cast<std::streamsize>(k * 4));
  if (!in_) throw Error("--kl-divergence " + path_.string() + ": read failed at row " + std::to_string(read_));
  for (uint32_t id : r.ids)
    if (id >= static_cast<uint64_t>(header_.model.vocab_size))
      throw Error("--kl-divergence " + path_.string() + ": row " + std::to_string(read_) + " holds token id " +
                  std::to_string(id) + ", outside the vocabulary");
  ++read_;
  return r;
}

}  // namespace stablelm::eval
