#include <fstream>
#include <sstream>

#include "io/json.h"
#include "io/regular_file.h"
#include "stablelm/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/file_util.h"

namespace stablelm::tok {

std::string read_whole_file(const std::filesystem::path& p) {
  return io::read_regular_file(p);
}

nlohmann::json parse_json_file(const std::filesystem::path& p) {
  return io::parse_json(read_whole_file(p), p.string());
}

namespace {

// A token field: "text", {"content": "text", ...} (AddedToken), or null.
std::optional<std::string> token_field(const nlohmann::json& j, const char* key, const std::string& file) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  throw Error(file + ": \"" + key + "\" must be a string, an object with a string \"content\", or null");
}

bool bool_field(const nlohmann::json& j, const char* key, bool dflt, const std::string& file) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  if (!it->is_boolean()) throw Error(file + ": \"" + key + "\" must be true or false");
  return it->get<bool>();
}

}  // namespace

TokenizerConfig load_tokenizer_config(const std::filesystem::path& path) {
  const std::string file = path.string();
  nlohmann::json j = parse_json_file(path);
  if (!j.is_object()) throw Error(file + ": expected a JSON object");
  TokenizerConfig c;
  c.bos = token_field(j, "bos_token", file);
  c.eos = token_field(j, "eos_token", file);
  c.pad = token_field(j, "pad_token", file);
  c.unk = token_field(j, "unk_token", file);
  c.add_bos = bool_field(j, "add_bos_token", false, file);
  c.add_eos = bool_field(j, "add_eos_token", false, file);
  c.clean_up_spaces = bool_field(j, "clean_up_tokenization_spaces", false, file);
  if (auto it = j.find("model_max_length"); it != j.end() && !it->is_null()) {
    if (!it->is_number()) throw Error(file + ": \"model_max_length\" must be a number");
    double v = it->get<double>();
    // transformers writes int(1e30) for "no limit".
    if (v >= 1 && v < 1e18) c.model_max_length = static_cast<int64_t>(v);
    else if (v < 0) throw Error(file + ": \"model_max_length\" is negative");
  }
  if (auto it = j.find("chat_template"); it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      c.chat_template = it->get<std::string>();
    } else if (it->is_array()) {
      // [{"name": ..., "template": ...}]: the one named "default", else the first.
      for (const auto& e : *it) {
        if (!e.is_object() || !e.contains("template") || !e["template"].is_string())
          throw Error(file + ": \"chat_template\" list entries need a string \"template\"");
        if (c.chat_template.empty() || (e.contains("name") && e["name"] == "default"))
          c.chat_template = e["template"].get<std::string>();
      }
    } else {
      throw Error(file + ": \"chat_template\" must be a string or a list of named templates");
    }
  }
  return c;
}

}  // namespace stablelm::tok
