// The public face of the interpreter (stablelm/chat.h): parse once, render many times, and the
// apply_chat_template step of transformers over a model directory's files.
#include <fstream>
#include <sstream>

#include "chat/interpreter.h"
#include "chat/parser.h"
#include "io/json.h"
#include "stablelm/chat.h"

namespace stablelm::chat {

TemplateError::TemplateError(std::string type, std::string message, int line, int column)
    : Error(std::move(message)), type_(std::move(type)), line_(line), column_(column) {}

Template::Template(std::string_view source) : program_(parse_template(source)) {}
Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const nlohmann::ordered_json& variables, const RenderOptions& opts) const {
  if (!variables.is_object()) throw Error("chat template: the variables must be a JSON object");
  Value vars = from_json(variables);
  Interpreter in(program_, opts);
  return in.render(vars.dict());
}

namespace {
bool is_special_token_name(const std::string& k);
}

std::string render_chat(const Template& tmpl, const ChatRequest& request, const nlohmann::ordered_json& special_tokens,
                        const RenderOptions& opts) {
  nlohmann::ordered_json vars = nlohmann::ordered_json::object();
  vars["messages"] = request.messages;
  vars["tools"] = request.tools;  // null when absent: `tools is defined` and `tools is none`, as transformers
  vars["documents"] = request.documents;
  vars["add_generation_prompt"] = request.add_generation_prompt;
  if (special_tokens.is_object())
    for (const auto& [k, v] : special_tokens.items()) vars[k] = v;
  if (request.variables.is_object())
    for (const auto& [k, v] : request.variables.items()) {
      if (v.is_null() && is_special_token_name(k)) vars.erase(k);  // unset: not passed at all
      else vars[k] = v;
    }
  return tmpl.render(vars, opts);
}

ChatRequest chat_request_from_json(const nlohmann::ordered_json& j, std::string* now) {
  if (!j.is_object()) throw Error("a chat request must be a JSON object {\"messages\": [...], ...}");
  ChatRequest r;
  auto m = j.find("messages");
  if (m == j.end() || !m->is_array()) throw Error("\"messages\" must be a list of messages");
  r.messages = *m;
  if (auto it = j.find("add_generation_prompt"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) throw Error("\"add_generation_prompt\" must be true or false");
    r.add_generation_prompt = it->get<bool>();
  }
  if (auto it = j.find("tools"); it != j.end()) r.tools = *it;
  if (auto it = j.find("documents"); it != j.end()) r.documents = *it;
  if (auto it = j.find("now"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) throw Error("\"now\" must be an ISO 8601 local time string like \"2024-09-26T13:45:30\"");
    if (now) *now = it->get<std::string>();
  }
  auto unpack = [&](const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return;
    if (!it->is_object()) throw Error(std::string("\"") + key + "\" must be an object of variables");
    for (const auto& [k, v] : it->items()) r.variables[k] = v;
  };
  unpack("special_tokens");
  for (const auto& [k, v] : j.items()) {
    if (k == "messages" || k == "add_generation_prompt" || k == "tools" || k == "documents" || k == "now" ||
        k == "special_tokens" || k == "extra_context")
      continue;
    r.variables[k] = v;
  }
  unpack("extra_context");
  return r;
}

namespace {

bool is_special_token_name(const std::string& k) {
  return k == "bos_token" || k == "eos_token" || k == "unk_token" || k == "sep_token" || k == "pad_token" ||
         k == "cls_token" || k == "mask_token" || k == "additional_special_tokens";
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw Error(p.string() + ": cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

nlohmann::ordered_json read_json(const std::filesystem::path& p) {
  return io::parse_ordered_json(read_file(p), p.string());
}

// A special-token field: "text" or an AddedToken {"content": "text", ...}; empty when unset.
std::string token_text(const nlohmann::ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) {
    auto c = v.find("content");
    if (c != v.end() && c->is_string()) return c->get<std::string>();
  }
  return {};
}

void read_special_tokens(const nlohmann::ordered_json& j, nlohmann::ordered_json& out) {
  static const char* const names[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                      "pad_token", "cls_token", "mask_token"};
  for (const char* n : names) {
    if (out.contains(n)) continue;
    auto it = j.find(n);
    if (it == j.end()) continue;
    std::string t = token_text(*it);
    if (!t.empty()) out[n] = t;
  }
  if (!out.contains("additional_special_tokens"))
    if (auto it = j.find("additional_special_tokens"); it != j.end() && it->is_array() && !it->empty()) {
      nlohmann::ordered_json list = nlohmann::ordered_json::array();
      for (const auto& t : *it) list.push_back(token_text(t));
      out["additional_special_tokens"] = list;
    }
}

}  // namespace

ChatTemplateConfig ChatTemplateConfig::load(const std::filesystem::path& model_dir) {
  ChatTemplateConfig c;
  const auto tc = model_dir / "tokenizer_config.json";
  if (std::filesystem::exists(tc)) {
    nlohmann::ordered_json j = read_json(tc);
    if (!j.is_object()) throw Error(tc.string() + ": expected a JSON object");
    if (auto it = j.find("chat_template"); it != j.end() && !it->is_null()) {
      c.source = tc;
      if (it->is_string()) {
        c.default_template = it->get<std::string>();
      } else if (it->is_array()) {
        for (const auto& e : *it) {
          if (!e.is_object() || !e.contains("name") || !e.contains("template") || !e["name"].is_string() ||
              !e["template"].is_string())
            throw Error(tc.string() + ": \"chat_template\" list entries must be {\"name\": ..., \"template\": ...}");
          const std::string name = e["name"].get<std::string>();
          if (name == "default") c.default_template = e["template"].get<std::string>();
          else if (name == "tool_use") c.tool_use_template = e["template"].get<std::string>();
        }
      } else {
        throw Error(tc.string() + ": \"chat_template\" must be a string or a list of named templates");
      }
    }
    read_special_tokens(j, c.special_tokens);
  }
  const auto stm = model_dir / "special_tokens_map.json";
  if (std::filesystem::exists(stm)) {
    nlohmann::ordered_json j = read_json(stm);
    if (j.is_object()) read_special_tokens(j, c.special_tokens);
  }
  const auto jinja = model_dir / "chat_template.jinja";
  if (std::filesystem::exists(jinja)) {
    c.default_template = read_file(jinja);
    c.source = jinja;
  }
  return c;
}

const std::string& ChatTemplateConfig::select(bool with_tools) const {
  if (with_tools && !tool_use_template.empty()) return tool_use_template;
  if (!default_template.empty()) return default_template;
  if (!tool_use_template.empty()) return tool_use_template;
  throw Error("the model has no chat template (no \"chat_template\" in tokenizer_config.json and no "
              "chat_template.jinja); pass one with --template FILE.jinja");
}

std::string apply_chat_template(const ChatTemplateConfig& config, const ChatRequest& request,
                                const RenderOptions& opts) {
  const bool with_tools = !request.tools.is_null();  // transformers: `tools is not None`
  Template tmpl(config.select(with_tools));
  return render_chat(tmpl, request, config.special_tokens, opts);
}

}  // namespace stablelm::chat
