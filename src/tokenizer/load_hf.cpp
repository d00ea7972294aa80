// tokenizer.json (Hugging Face tokenizers): a byte-level BPE model with its added tokens,
// normalizer, pre-tokenizer and decoder. Whatever this engine cannot reproduce exactly is
// refused with an "unsupported" error rather than approximated.
#include <future>
#include <unordered_map>

#include "io/json.h"
#include "io/mapped_file.h"
#include "stablelm/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/file_util.h"
#include "tokenizer/json_scan.h"
#include "tokenizer/load.h"
#include "tokenizer/unicode.h"

namespace stablelm::tok {
namespace {

using nlohmann::json;
// Far above any real vocabulary; guards garbage. Below 2^24 - 1: NameMap keeps id + 1 in 24 bits
// (an id of 16777215 used to vanish from the map and be reported as "not in model.vocab").
constexpr int64_t kMaxId = (int64_t{1} << 24) - 1;

struct Ctx {
  std::string file;
  [[noreturn]] void fail(const std::string& what) const { throw Error(file + ": " + what); }
  const json& obj(const json& j, const char* key, const char* where) const {
    auto it = j.find(key);
    if (it == j.end()) fail(std::string(where) + " has no \"" + key + "\"");
    return *it;
  }
  std::string type_of(const json& j, const char* where) const {
    if (!j.is_object()) fail(std::string(where) + " must be an object");
    auto it = j.find("type");
    if (it == j.end() || !it->is_string()) fail(std::string(where) + " has no string \"type\"");
    return it->get<std::string>();
  }
  bool flag(const json& j, const char* key, bool dflt, const char* where) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return dflt;
    if (!it->is_boolean()) fail(std::string(where) + "." + key + " must be true or false");
    return it->get<bool>();
  }
};

// Returns true if the normalizer is NFC (false: none).
bool parse_normalizer(const Ctx& c, const json& j, const std::string& where) {
  if (j.is_null()) return false;
  std::string type = c.type_of(j, where.c_str());
  if (type == "NFC") return true;
  if (type == "Sequence") {
    const json& list = c.obj(j, "normalizers", where.c_str());
    if (!list.is_array()) c.fail(where + ".normalizers must be a list");
    bool nfc = false;
    for (size_t i = 0; i < list.size(); ++i) nfc = parse_normalizer(c, list[i], where + ".normalizers[" + std::to_string(i) + "]") || nfc;
    return nfc;
  }
  c.fail("unsupported normalizer \"" + type + "\" at " + where + " (supported: null, NFC, Sequence of those)");
}

void parse_pre_tokenizer(const Ctx& c, const json& j, const std::string& where, PreTokenizer& pre, bool& byte_level) {
  std::string type = c.type_of(j, where.c_str());
  if (type == "Sequence") {
    const json& list = c.obj(j, "pretokenizers", where.c_str());
    if (!list.is_array()) c.fail(where + ".pretokenizers must be a list");
    for (size_t i = 0; i < list.size(); ++i)
      parse_pre_tokenizer(c, list[i], where + ".pretokenizers[" + std::to_string(i) + "]", pre, byte_level);
    return;
  }
  PreTokenizerStage st;
  if (type == "ByteLevel") {
    byte_level = true;
    st.add_prefix_space = c.flag(j, "add_prefix_space", true, where.c_str());
    if (c.flag(j, "use_regex", true, where.c_str())) st.splitter = make_regex_splitter(kGpt2Pattern);
    st.behavior = SplitBehavior::Isolated;
    // Without its regex or a prefix space, ByteLevel only maps bytes to characters, which our
    // byte-level vocabulary already did: no stage.
    if (!st.splitter && !st.add_prefix_space) return;
  } else if (type == "Split") {
    const json& pat = c.obj(j, "pattern", where.c_str());
    std::string regex;
    if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string()) {
      regex = pat["Regex"].get<std::string>();
    } else if (pat.is_object() && pat.contains("String") && pat["String"].is_string()) {
      // A literal string: quote it for PCRE2.
      regex = "\\Q" + pat["String"].get<std::string>() + "\\E";
      if (pat["String"].get<std::string>().empty()) c.fail(where + ".pattern.String is empty");
    } else {
      c.fail(where + ".pattern must be {\"Regex\": ...} or {\"String\": ...}");
    }
    try {
      st.splitter = make_regex_splitter(regex);
    } catch (const std::exception& e) {
      c.fail(where + ".pattern: " + e.what());
    }
    const json& beh = c.obj(j, "behavior", where.c_str());
    std::string b = beh.is_string() ? beh.get<std::string>() : "";
    if (b == "Removed") st.behavior = SplitBehavior::Removed;
    else if (b == "Isolated") st.behavior = SplitBehavior::Isolated;
    else if (b == "MergedWithPrevious") st.behavior = SplitBehavior::MergedWithPrevious;
    else if (b == "MergedWithNext") st.behavior = SplitBehavior::MergedWithNext;
    else if (b == "Contiguous") st.behavior = SplitBehavior::Contiguous;
    else c.fail(where + ".behavior \"" + b + "\" is not a Split behavior");
    st.invert = c.flag(j, "invert", false, where.c_str());
  } else {
    c.fail("unsupported pre_tokenizer \"" + type + "\" at " + where + " (supported: ByteLevel, Split, Sequence)");
  }
  pre.stages.push_back(std::move(st));
}

void check_decoder(const Ctx& c, const json& j) {
  if (j.is_null()) c.fail("decoder is null; only byte-level BPE (decoder ByteLevel) is supported");
  std::string type = c.type_of(j, "decoder");
  if (type == "ByteLevel") return;
  if (type == "Sequence") {
    const json& list = c.obj(j, "decoders", "decoder");
    if (list.is_array() && list.size() == 1 && c.type_of(list[0], "decoder.decoders[0]") == "ByteLevel") return;
  }
  c.fail("unsupported decoder \"" + type + "\" (supported: ByteLevel)");
}

void check_post_processor(const Ctx& c, const json& j) {
  if (j.is_null()) return;
  std::string type = c.type_of(j, "post_processor");
  if (type == "ByteLevel") return;  // only trims offsets
  c.fail("unsupported post_processor \"" + type + "\" (supported: null, ByteLevel)");
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer_json(const std::filesystem::path& path, const std::filesystem::path& config) {
  Ctx c{path.string()};
  const io::MappedFile file(path, /*populate=*/true);
  const std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
  if (size_t bad = find_invalid_utf8(text); bad != std::string_view::npos)
    c.fail("not valid UTF-8 at byte " + std::to_string(bad));
  // The vocabulary and merges are scanned directly (fast); nlohmann parses everything else.
  JsonSpan vspan, mspan;
  bool fast = find_vocab_and_merges(text, vspan, mspan) && vspan.end && mspan.end;
  json root;
  std::vector<std::pair<std::string, int64_t>> vocab_entries;
  std::vector<std::pair<std::string, std::string>> merge_entries;
  // The merges (half the scanning work) are scanned on a second thread while this one parses
  // the rest and builds the vocabulary maps; get() rethrows a scan error.
  std::future<std::vector<std::pair<std::string, std::string>>> merges_scan;
  if (fast) {
    auto scan = [&text, mspan, &c] { return scan_merges(text, mspan, c.file); };
    try {
      merges_scan = std::async(std::launch::async, scan);
    } catch (const std::system_error&) {
      merges_scan = std::async(std::launch::deferred, scan);  // no thread to spare: scan on get()
    }
  }
  try {
    if (fast) {
      // Everything but the two big spans, which become {} and [] (a few kB to parse).
      const JsonSpan& later = vspan.begin > mspan.begin ? vspan : mspan;
      const JsonSpan& earlier = vspan.begin > mspan.begin ? mspan : vspan;
      std::string rest;
      rest.reserve(text.size() - (later.end - later.begin) - (earlier.end - earlier.begin) + 4);
      rest.append(text, 0, earlier.begin).append(&earlier == &vspan ? "{}" : "[]");
      rest.append(text, earlier.end, later.begin - earlier.end).append(&later == &vspan ? "{}" : "[]");
      rest.append(text, later.end, std::string::npos);
      root = io::parse_json(rest, c.file);
    } else {
      root = io::parse_json(text, c.file);
    }
  } catch (const json::exception& e) {
    c.fail(std::string("not valid JSON: ") + e.what());  // ~future waits for the scan
  }
  if (!root.is_object()) c.fail("expected a JSON object");

  BpeTokenizer::Spec spec;
  spec.source = c.file;
  spec.nfc_segments = parse_normalizer(c, root.value("normalizer", json()), "normalizer");

  bool byte_level = false;
  const json& pt = root.value("pre_tokenizer", json());
  if (!pt.is_null()) parse_pre_tokenizer(c, pt, "pre_tokenizer", spec.pre, byte_level);
  if (!byte_level) c.fail("pre_tokenizer has no ByteLevel step; only byte-level BPE tokenizers are supported");
  check_decoder(c, root.value("decoder", json()));
  check_post_processor(c, root.value("post_processor", json()));

  const json& model = c.obj(root, "model", "tokenizer.json");
  if (!model.is_object()) c.fail("\"model\" must be an object");
  const auto mt = model.find("type");  // absent means BPE; anything but a string is an error
  if (mt != model.end() && !mt->is_string()) c.fail("model.type must be a string");
  const std::string mtype = mt != model.end() ? mt->get<std::string>() : "BPE";
  if (mtype != "BPE") c.fail("unsupported model type \"" + mtype + "\" (supported: BPE)");
  if (model.contains("dropout") && !model["dropout"].is_null() && !(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0))
    c.fail("model.dropout is set; BPE dropout is not supported");
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(k);
    if (it != model.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty()))
      c.fail(std::string("model.") + k + " is not supported with byte-level BPE");
  }
  bool ignore_merges = c.flag(model, "ignore_merges", false, "model");

  // Vocabulary: byte-level strings → ids.
  if (fast) {
    vocab_entries = scan_vocab(text, vspan, c.file);
  } else {
    const json& vocab = c.obj(model, "vocab", "model");
    if (!vocab.is_object()) c.fail("model.vocab must be an object of token → id");
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      if (!it.value().is_number_integer()) c.fail("model.vocab[\"" + io::text_excerpt(it.key()) + "\"] is not an integer id");
      vocab_entries.emplace_back(it.key(), it.value().get<int64_t>());
    }
    const json& merges = c.obj(model, "merges", "model");
    if (!merges.is_array()) c.fail("model.merges must be a list");
    for (size_t i = 0; i < merges.size(); ++i) {
      const json& m = merges[i];
      auto where = [&] { return "model.merges[" + std::to_string(i) + "]"; };
      if (m.is_string()) {
        const std::string& ms = m.get_ref<const std::string&>();
        size_t sp = ms.find(' ');
        if (sp == std::string::npos || ms.find(' ', sp + 1) != std::string::npos)
          c.fail(where() + " \"" + ms + "\" is not two tokens separated by one space");
        merge_entries.emplace_back(ms.substr(0, sp), ms.substr(sp + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merge_entries.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        c.fail(where() + " must be \"a b\" or [\"a\", \"b\"]");
      }
    }
  }
  BytesMap names;  // byte-level spelling → id (for merges)
  names.reserve(vocab_entries.size());
  BytesMap by_bytes;
  by_bytes.reserve(vocab_entries.size());
  std::vector<std::string> token_bytes;
  std::vector<uint8_t> valid;
  token_bytes.reserve(vocab_entries.size() + 1024);  // ids are dense: one allocation, no moves
  valid.reserve(vocab_entries.size() + 1024);
  std::string raw;
  auto place = [&](int64_t id, const std::string& bytes, const std::string& name) {
    if (id < 0 || id >= kMaxId) c.fail("token \"" + io::text_excerpt(name) + "\" has id " + std::to_string(id) + ", out of range (ids must be below " + std::to_string(kMaxId) + ")");
    if (static_cast<size_t>(id) >= token_bytes.size()) {
      token_bytes.resize(id + 1);
      valid.resize(id + 1, 0);
    }
    token_bytes[id] = bytes;
    valid[id] = 1;
  };
  for (const auto& [name, id] : vocab_entries) {
    if (id < 0 || id >= kMaxId) c.fail("model.vocab[\"" + io::text_excerpt(name) + "\"] = " + std::to_string(id) + " is out of range (ids must be below " + std::to_string(kMaxId) + ")");
    if (static_cast<size_t>(id) < valid.size() && valid[id]) c.fail("model.vocab: id " + std::to_string(id) + " is used twice");
    if (!names.insert(name, static_cast<int32_t>(id))) c.fail("model.vocab: token \"" + io::text_excerpt(name) + "\" appears twice");
    if (byte_level_to_bytes(name, raw)) {
      by_bytes.insert(raw, static_cast<int32_t>(id));
      place(id, raw, name);
    } else {
      place(id, name, name);  // not byte-level: HF's decoder keeps such a token's text as is
    }
  }
  int32_t byte_ids[256];
  for (int b = 0; b < 256; ++b) {
    byte_ids[b] = names.find(byte_level_char(static_cast<unsigned char>(b)));
    if (byte_ids[b] < 0) c.fail("model.vocab has no token for byte " + std::to_string(b) + " (\"" +
                                byte_level_char(static_cast<unsigned char>(b)) + "\"); not a byte-level BPE vocabulary");
  }

  // Merges, rank = position.
  if (merges_scan.valid()) merge_entries = merges_scan.get();
  PairMap pairs;
  pairs.reserve(merge_entries.size());
  std::string ab;
  for (size_t i = 0; i < merge_entries.size(); ++i) {
    const auto& [a, b] = merge_entries[i];
    auto where = [&] { return "model.merges[" + std::to_string(i) + "]"; };
    ab.assign(a).append(b);
    int32_t ia = names.find(a), ib = names.find(b), im = names.find(ab);
    if (ia < 0 || ib < 0) c.fail(where() + ": \"" + (ia < 0 ? a : b) + "\" is not in model.vocab");
    if (im < 0) c.fail(where() + ": the merged token \"" + ab + "\" is not in model.vocab");
    pairs.insert(ia, ib, static_cast<int32_t>(i), im);
  }

  // Added tokens.
  if (auto it = root.find("added_tokens"); it != root.end() && !it->is_null()) {
    if (!it->is_array()) c.fail("added_tokens must be a list");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& t = (*it)[i];
      std::string where = "added_tokens[" + std::to_string(i) + "]";
      if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
          !t["content"].is_string())
        c.fail(where + " needs an integer \"id\" and a string \"content\"");
      AddedToken a;
      int64_t id = t["id"].get<int64_t>();
      a.content = t["content"].get<std::string>();
      if (a.content.empty()) c.fail(where + " has empty content");
      if (find_invalid_utf8(a.content) != std::string_view::npos) c.fail(where + " content is not valid UTF-8");
      if (id < 0 || id >= kMaxId) c.fail(where + " id " + std::to_string(id) + " is out of range (ids must be below " + std::to_string(kMaxId) + ")");
      a.id = static_cast<int32_t>(id);
      a.special = c.flag(t, "special", false, where.c_str());
      a.normalized = c.flag(t, "normalized", !a.special, where.c_str());
      a.lstrip = c.flag(t, "lstrip", false, where.c_str());
      a.rstrip = c.flag(t, "rstrip", false, where.c_str());
      a.single_word = c.flag(t, "single_word", false, where.c_str());
      // HF's ByteLevel decoder maps the content's characters back to bytes when all of them
      // are byte-level characters, else keeps the text.
      place(a.id, byte_level_to_bytes(a.content, raw) ? raw : a.content, a.content);
      spec.added.push_back(std::move(a));
    }
  }

  int32_t max_id = static_cast<int32_t>(token_bytes.size()) - 1;
  spec.bpe = std::make_unique<Bpe>(Bpe::Mode::Merges, std::move(by_bytes), std::move(pairs), byte_ids, max_id,
                                   ignore_merges);
  spec.token_bytes = std::move(token_bytes);
  spec.valid = std::move(valid);
  if (!config.empty()) spec.config = load_tokenizer_config(config);

  std::string engines;
  for (auto& st : spec.pre.stages)
    engines += std::string(engines.empty() ? "" : "+") + (st.splitter ? st.splitter->engine() : "bytes");
  spec.description = c.file + " (BPE merges, normalizer " + (spec.nfc_segments ? "NFC" : "none") + ", split " +
                     engines + ", " + std::to_string(spec.added.size()) + " added tokens)";
  return std::make_unique<BpeTokenizer>(std::move(spec));
}

}  // namespace stablelm::tok
