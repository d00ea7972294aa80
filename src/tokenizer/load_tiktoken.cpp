// arcade100k.tiktoken: one "<base64 bytes> <rank>" line per token (tiktoken's format). The
// format carries no regex and no special tokens; Arcade100k's are part of its definition
// (the model's tokenization_arcade100k.py), so they are fixed here.
#include <charconv>

#include "stablelm/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/file_util.h"
#include "tokenizer/load.h"

namespace stablelm::tok {
namespace {

constexpr int32_t kFirstSpecialId = 100257;
constexpr const char* kArcade100kSpecials[] = {
    "<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<gh_stars>", "<filename>", "<issue_start>", "<issue_comment>", "<issue_closed>",
    "<jupyter_start>", "<jupyter_text>", "<jupyter_code>", "<jupyter_output>", "<empty_output>",
    "<commit_before>", "<commit_msg>", "<commit_after>", "<reponame>", "<|endofprompt|>",
    "<|im_start|>", "<|im_end|>", "<|pause|>", "<|reg0|>", "<|reg1|>", "<|reg2|>", "<|reg3|>",
    "<|reg4|>", "<|reg5|>", "<|reg6|>", "<|reg7|>", "<|extra0|>"};

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool base64_decode(std::string_view in, std::string& out) {
  out.clear();
  if (in.empty() || in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else {
        if (pad) return false;
        v[k] = b64_value(c);
        if (v[k] < 0) return false;
      }
    }
    uint32_t w = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>(w >> 16);
    if (pad < 2) out += static_cast<char>((w >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(w & 0xFF);
  }
  return true;
}

}  // namespace

std::unique_ptr<Tokenizer> load_tiktoken(const std::filesystem::path& path, const std::filesystem::path& config) {
  const std::string file = path.string();
  std::string text = read_whole_file(path);
  BpeTokenizer::Spec spec;
  spec.source = file;
  spec.nfc_whole_text = true;
  BytesMap vocab;
  vocab.reserve(110000);
  std::vector<std::string> bytes_by_rank;
  std::vector<uint8_t> valid;
  std::string tok;
  size_t pos = 0, line = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view l(text.data() + pos, eol - pos);
    pos = eol + 1;
    ++line;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.empty()) continue;
    auto where = [&] { return file + ": line " + std::to_string(line) + ": "; };
    size_t sp = l.find(' ');
    if (sp == std::string_view::npos) throw Error(where() + "expected \"<base64 token> <rank>\"");
    if (!base64_decode(l.substr(0, sp), tok)) throw Error(where() + "token is not valid base64");
    std::string_view rs = l.substr(sp + 1);
    int64_t rank = -1;
    auto [ptr, ec] = std::from_chars(rs.data(), rs.data() + rs.size(), rank);
    if (ec != std::errc() || ptr != rs.data() + rs.size() || rank < 0)
      throw Error(where() + "rank \"" + std::string(rs) + "\" is not a non-negative integer");
    if (rank >= kFirstSpecialId)
      throw Error(where() + "rank " + std::to_string(rank) + " collides with the Arcade100k special token ids (from " +
                  std::to_string(kFirstSpecialId) + ")");
    if (static_cast<size_t>(rank) >= bytes_by_rank.size()) {
      bytes_by_rank.resize(rank + 1);
      valid.resize(rank + 1, 0);
    }
    if (valid[rank]) throw Error(where() + "rank " + std::to_string(rank) + " appears twice");
    if (!vocab.insert(tok, static_cast<int32_t>(rank))) throw Error(where() + "token bytes appear twice");
    bytes_by_rank[rank] = tok;
    valid[rank] = 1;
  }
  if (vocab.size() == 0) throw Error(file + ": no tokens");
  int32_t byte_ids[256];
  for (int b = 0; b < 256; ++b) {
    char c = static_cast<char>(b);
    byte_ids[b] = vocab.find(&c, 1);
    if (byte_ids[b] < 0) throw Error(file + ": no token for the single byte " + std::to_string(b) + " (byte-level BPE needs all 256)");
  }
  int32_t n_special = static_cast<int32_t>(std::size(kArcade100kSpecials));
  bytes_by_rank.resize(kFirstSpecialId + n_special);
  valid.resize(kFirstSpecialId + n_special, 0);
  for (int32_t k = 0; k < n_special; ++k) {
    AddedToken a;
    a.content = kArcade100kSpecials[k];
    a.id = kFirstSpecialId + k;
    a.special = true;
    spec.added.push_back(a);
    bytes_by_rank[a.id] = a.content;
    valid[a.id] = 1;
  }
  int32_t max_id = static_cast<int32_t>(bytes_by_rank.size()) - 1;
  spec.bpe = std::make_unique<Bpe>(Bpe::Mode::Ranks, std::move(vocab), PairMap{}, byte_ids, max_id, true);
  PreTokenizerStage st;
  st.splitter = make_regex_splitter(kArcade100kPattern);
  st.behavior = SplitBehavior::Isolated;
  spec.pre.stages.push_back(std::move(st));
  spec.token_bytes = std::move(bytes_by_rank);
  spec.valid = std::move(valid);
  if (!config.empty()) {
    spec.config = load_tokenizer_config(config);
  } else {
    spec.config.bos = spec.config.eos = spec.config.unk = std::string("<|endoftext|>");
  }
  spec.description = file + " (tiktoken ranks, NFC, Arcade100k split: hand-written matcher, 32 specials)";
  return std::make_unique<BpeTokenizer>(std::move(spec));
}

}  // namespace stablelm::tok
