#include "tokenizer/encode_request.h"

#include "io/json.h"
#include "stablelm/error.h"

namespace stablelm::tok {

EncodeRequest parse_encode_request(std::string_view line, bool default_special, const std::string& where) {
  const nlohmann::json j = io::parse_json(line, where);
  if (!j.is_object()) throw Error(where + ": expected an object {\"text\": ..., \"special\": ...}");
  auto t = j.find("text");
  if (t == j.end() || !t->is_string()) throw Error(where + ": \"text\" must be a string");
  EncodeRequest r;
  r.special = default_special;
  if (auto s = j.find("special"); s != j.end() && !s->is_null()) {
    if (!s->is_boolean()) throw Error(where + ": \"special\" must be true or false");
    r.special = r.special && s->get<bool>();
  }
  r.text = t->get<std::string>();
  return r;
}

}  // namespace stablelm::tok
