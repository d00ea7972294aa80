// JSON mode's token mask: a walk over the vocabulary in byte order, carrying the JSON prefix
// state one byte at a time and reusing it across the prefix each token shares with the previous
// one, so each byte of the vocabulary's trie is stepped at most once per generated token. Inside
// a string, where most of the output is, the tokens that are plain string text are allowed
// without a walk.
#include "sampling/prefix_constraint.h"

#include <algorithm>
#include <list>
#include <mutex>
#include <numeric>
#include <string>
#include <utility>

#include "stablelm/error.h"
#include "stablelm/tokenizer.h"

namespace stablelm::sampling {

namespace {

// Automaton states whose string-text tokens a constraint keeps (12.5 KB each for 100k tokens: at
// most 3.2 MB per sequence); past that it starts afresh.
constexpr size_t kPatternStatesKept = 256;

// The entries text[k], ids[k] for k in order (sorted by bytes, then id).
TokenBytesIndex::Sorted in_order(const std::vector<std::string>& text, const std::vector<int32_t>& ids,
                                 const std::vector<size_t>& order) {
  TokenBytesIndex::Sorted s;
  s.begin.reserve(order.size() + 1);
  s.ids.reserve(order.size());
  s.shared.reserve(order.size());
  const std::string* prev = nullptr;
  for (size_t k : order) {
    const std::string& t = text[k];
    size_t l = 0;
    if (prev != nullptr)
      while (l < t.size() && l < prev->size() && t[l] == (*prev)[l]) ++l;
    s.begin.push_back(s.bytes.size());
    s.bytes += t;
    s.ids.push_back(ids[k]);
    s.shared.push_back(static_cast<uint32_t>(l));
    prev = &t;
  }
  s.begin.push_back(s.bytes.size());
  s.group_end.resize(s.size());
  for (size_t i = s.size(); i-- > 0;)
    s.group_end[i] = i + 1 < s.size() && s.shared[i + 1] > 0 ? s.group_end[i + 1] : static_cast<uint32_t>(i + 1);
  return s;
}

// Inside a string, is the token string text whatever the string held before? No '"' (which would
// end a key and a value differently), and it must leave the string state where it found it.
bool is_string_text(std::string_view b) {
  if (b.find('"') != std::string_view::npos) return false;
  JsonPrefix p;
  p.push('{');
  p.push('"');
  for (char c : b)
    if (!p.push(static_cast<uint8_t>(c))) return false;
  return p.in_plain_string();
}

// Sets allowed[id] for every entry of s that the state accepts whole.
template <class Prefix>
void walk(const TokenBytesIndex::Sorted& s, const Prefix& start, std::vector<Prefix>& path,
          std::vector<uint8_t>& allowed) {
  path.assign(1, start);
  // fail: the length of the shortest refused prefix of the previous entry (0: none). An entry
  // sharing at least that many bytes with the previous one is refused without a step.
  size_t fail = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const size_t shared = s.shared[i];
    if (fail != 0 && shared >= fail) continue;
    fail = 0;
    const std::string_view b = s.at(i);
    // path[0..shared] hold the states after the shared bytes (the previous entry got that far).
    path.erase(path.begin() + static_cast<std::ptrdiff_t>(shared) + 1, path.end());
    size_t d = shared;
    for (; d < b.size(); ++d) {
      Prefix next = path[d];
      if (!next.push(static_cast<uint8_t>(b[d]))) break;
      path.push_back(next);
    }
    if (d < b.size()) {
      fail = d + 1;
      // A refused first byte refuses its whole group: most entries in structural states.
      if (d == 0) i = s.group_end[i] - 1;
      continue;
    }
    const auto id = static_cast<size_t>(s.ids[i]);
    if (id < allowed.size()) allowed[id] = 1;
  }
}

// Moves state over the chosen token's bytes; throws stablelm::Error when it was not allowed.
template <class Prefix>
void advance(const TokenBytesIndex& index, Prefix& state, int32_t id) {
  const std::optional<std::string_view> b = index.bytes_of(id);
  Prefix s = state;
  bool ok = b.has_value();
  if (ok)
    for (char c : *b)
      if (!s.push(static_cast<uint8_t>(c))) {
        ok = false;
        break;
      }
  if (!ok) throw Error("constrained decoding: token " + std::to_string(id) + " does not continue the output");
  state = s;
}

// A per-token byte mask as bits, to keep; and kept bits back into a byte mask.
std::vector<uint64_t> to_bits(const std::vector<uint8_t>& taken) {
  std::vector<uint64_t> bits((taken.size() + 63) / 64, 0);
  for (size_t id = 0; id < taken.size(); ++id)
    if (taken[id]) bits[id / 64] |= uint64_t{1} << (id % 64);
  return bits;
}
void set_from_bits(const std::vector<uint64_t>& bits, std::vector<uint8_t>& allowed) {
  for (size_t w = 0; w < bits.size(); ++w)
    for (uint64_t m = bits[w]; m != 0; m &= m - 1) {
      const size_t id = w * 64 + static_cast<size_t>(__builtin_ctzll(m));
      if (id < allowed.size()) allowed[id] = 1;
    }
}

}  // namespace

TokenBytesIndex::TokenBytesIndex(const Tokenizer& tok) {
  const int32_t n = tok.vocab_size();
  std::vector<std::string> text;
  std::vector<int32_t> ids;
  for (int32_t id = 0; id < n; ++id) {
    if (!tok.is_valid_id(id) || tok.is_special(id)) continue;
    std::string b = tok.token_bytes(id);
    if (b.empty()) continue;
    text.push_back(std::move(b));
    ids.push_back(id);
  }
  std::vector<size_t> every(ids.size()), rest;
  std::iota(every.begin(), every.end(), size_t{0});
  for (size_t k : every) {
    if (is_string_text(text[k])) {
      string_text_.push_back(ids[k]);
      longest_string_text_ = std::max(longest_string_text_, text[k].size());
    } else {
      rest.push_back(k);
    }
  }
  // One sort; each index takes its entries in that order.
  std::vector<size_t> order = every;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return text[a] != text[b] ? text[a] < text[b] : ids[a] < ids[b];
  });
  std::vector<uint8_t> is_rest(text.size(), 0);
  for (size_t k : rest) is_rest[k] = 1;
  std::vector<size_t> rest_order, text_order;
  for (size_t k : order) (is_rest[k] ? rest_order : text_order).push_back(k);
  all_ = in_order(text, ids, order);
  rest_ = in_order(text, ids, rest_order);
  text_ = in_order(text, ids, text_order);
  entry_of_id_.assign(static_cast<size_t>(std::max(n, 0)), -1);
  for (size_t i = 0; i < all_.size(); ++i) entry_of_id_[static_cast<size_t>(all_.ids[i])] = static_cast<int64_t>(i);
}

std::optional<std::string_view> TokenBytesIndex::bytes_of(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= entry_of_id_.size() || entry_of_id_[static_cast<size_t>(id)] < 0)
    return std::nullopt;
  return all_.at(static_cast<size_t>(entry_of_id_[static_cast<size_t>(id)]));
}

std::shared_ptr<const TokenBytesIndex> token_bytes_index(const Tokenizer& tok) {
  // Keyed by the tokenizer object's instance id (never reused, unlike its address); the few most
  // recent are kept, enough for a server's model and a reload.
  static std::mutex mu;
  static std::list<std::pair<uint64_t, std::shared_ptr<const TokenBytesIndex>>> cache;
  constexpr size_t kKept = 4;
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = cache.begin(); it != cache.end(); ++it)
    if (it->first == tok.instance_id()) {
      cache.splice(cache.begin(), cache, it);
      return cache.front().second;
    }
  cache.emplace_front(tok.instance_id(), std::make_shared<const TokenBytesIndex>(tok));
  if (cache.size() > kKept) cache.pop_back();
  return cache.front().second;
}

template <class Prefix>
PrefixConstraint<Prefix>::PrefixConstraint(std::shared_ptr<const TokenBytesIndex> index, Prefix start,
                                           std::shared_ptr<const void> keep_alive)
    : index_(std::move(index)), keep_alive_(std::move(keep_alive)), state_(start) {
  if (!index_) throw Error("constrained decoding needs the model's tokenizer");
}

template <class Prefix>
void PrefixConstraint<Prefix>::mask(std::span<float> scores) const {
  allowed_.assign(scores.size(), 0);
  // Inside a string with room for the longest string-text token (any room without maxLength).
  const uint32_t room = state_.plain_string_room();
  if (const PatternString* pat = state_.pattern_string()) {
    // A pattern-held string: its string-text tokens walked with the string's small reader alone
    // (once per automaton state when no length bound counts), then a walk of the rest.
    if (pat->state_decides()) {
      auto [it, fresh] = pattern_text_.try_emplace({pat->dfa(), pat->state()});
      if (fresh) {
        if (pattern_text_.size() > kPatternStatesKept) {
          const auto key = it->first;
          pattern_text_.clear();
          it = pattern_text_.try_emplace(key).first;
        }
        std::vector<uint8_t> taken(allowed_.size(), 0);
        walk(index_->string_text_sorted(), *pat, pattern_path_, taken);
        it->second = to_bits(taken);
      }
      set_from_bits(it->second, allowed_);
    } else {
      walk(index_->string_text_sorted(), *pat, pattern_path_, allowed_);
    }
    walk(index_->not_string_text(), state_, path_, allowed_);
  } else if (room > 0 && room >= index_->longest_string_text()) {
    for (int32_t id : index_->string_text())
      if (static_cast<size_t>(id) < allowed_.size()) allowed_[static_cast<size_t>(id)] = 1;
    walk(index_->not_string_text(), state_, path_, allowed_);
  } else {
    walk(index_->all(), state_, path_, allowed_);
  }
  for (size_t i = 0; i < scores.size(); ++i)
    if (!allowed_[i]) scores[i] = kFiltered;
}

template <class Prefix>
void PrefixConstraint<Prefix>::accept(int32_t id) {
  advance(*index_, state_, id);
}

template class PrefixConstraint<JsonPrefix>;
template class PrefixConstraint<ToolCallsPrefix>;
template class PrefixConstraint<SchemaPrefix>;

RegexConstraint::RegexConstraint(std::shared_ptr<const TokenBytesIndex> index, std::shared_ptr<const RegexDfa> regex,
                                 std::vector<int32_t> end_ids)
    : index_(std::move(index)), regex_(std::move(regex)), end_ids_(std::move(end_ids)) {
  if (!index_) throw Error("constrained decoding needs the model's tokenizer");
  if (!regex_) throw Error("constrained decoding: no regex");
  state_ = RegexPrefix(regex_.get());
}

void RegexConstraint::mask(std::span<float> scores) const {
  auto [it, fresh] = by_state_.try_emplace(state_.state());
  if (fresh) {
    if (by_state_.size() > kStatesKept) {
      by_state_.clear();
      it = by_state_.try_emplace(state_.state()).first;
    }
    allowed_.assign(scores.size(), 0);
    walk(index_->all(), state_, path_, allowed_);
    it->second = to_bits(allowed_);
  }
  // Where the text matches, the end tokens keep their scores.
  const size_t n_end = state_.matches() ? end_ids_.size() : 0;
  kept_.resize(end_ids_.size());
  for (size_t e = 0; e < n_end; ++e)
    kept_[e] = static_cast<size_t>(end_ids_[e]) < scores.size() ? scores[static_cast<size_t>(end_ids_[e])] : 0.0f;
  const std::vector<uint64_t>& bits = it->second;
  for (size_t i = 0; i < scores.size(); ++i)
    if (i / 64 >= bits.size() || !((bits[i / 64] >> (i % 64)) & 1u)) scores[i] = kFiltered;
  for (size_t e = 0; e < n_end; ++e)
    if (static_cast<size_t>(end_ids_[e]) < scores.size()) scores[static_cast<size_t>(end_ids_[e])] = kept_[e];
}

void RegexConstraint::accept(int32_t id) {
  if (state_.matches() && std::find(end_ids_.begin(), end_ids_.end(), id) != end_ids_.end()) return;
  advance(*index_, state_, id);
}

std::unique_ptr<JsonSchemaConstraint> make_json_schema_constraint(std::shared_ptr<const TokenBytesIndex> index,
                                                                  std::shared_ptr<const SchemaGraph> schema,
                                                                  JsonPrefix::Whitespace ws) {
  if (!schema) throw Error("constrained decoding: no JSON schema");
  const SchemaGraph* graph = schema.get();
  return std::make_unique<JsonSchemaConstraint>(std::move(index), SchemaPrefix(graph, ws), std::move(schema));
}

std::unique_ptr<ToolCallsConstraint> make_tool_calls_constraint(
    std::shared_ptr<const TokenBytesIndex> index, std::vector<std::string> names, int max_calls,
    JsonPrefix::Whitespace ws, const std::vector<std::shared_ptr<const SchemaGraph>>& schemas) {
  for (const std::string& n : names)
    if (!is_forceable_tool_name(n))
      throw Error("tool calls: function name \"" + n.substr(0, 64) +
                  "\" cannot be generated as a plain JSON string (1-255 bytes without quotes, backslashes or "
                  "control characters)");
  if (names.empty()) throw Error("tool calls: no function to call");
  if (names.size() > 4096) throw Error("tool calls: more than 4096 functions");
  if (!schemas.empty() && schemas.size() != names.size())
    throw Error("tool calls: " + std::to_string(schemas.size()) + " schemas for " + std::to_string(names.size()) +
                " functions");
  for (const auto& g : schemas)
    if (g && g->unions[g->root].leaf[kObject] == SchemaGraph::kNone)
      throw Error("tool calls: a function's parameters allow no object, and arguments are one");
  // Sorted and unique names, each with the schema it came with first.
  std::vector<size_t> order(names.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return names[a] < names[b]; });
  struct Kept {
    std::vector<std::string> names;
    std::vector<std::shared_ptr<const SchemaGraph>> owned;
    std::vector<const SchemaGraph*> schemas;
  };
  auto kept = std::make_shared<Kept>();
  for (size_t i : order) {
    if (!kept->names.empty() && kept->names.back() == names[i]) continue;
    kept->names.push_back(names[i]);
    kept->owned.push_back(schemas.empty() ? nullptr : schemas[i]);
    kept->schemas.push_back(kept->owned.back().get());
  }
  const bool any_schema = std::any_of(kept->schemas.begin(), kept->schemas.end(), [](auto* g) { return g != nullptr; });
  ToolCallsPrefix start(&kept->names, max_calls, ws, any_schema ? &kept->schemas : nullptr);
  return std::make_unique<ToolCallsConstraint>(std::move(index), start, std::shared_ptr<const Kept>(kept));
}

}  // namespace stablelm::sampling
