#include "stablelm/tool_calls.h"

#include <cctype>

#include "chat/value.h"
#include "io/json.h"
#include "stablelm/error.h"

namespace stablelm::chat {
namespace {

using nlohmann::ordered_json;

constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view trim(std::string_view s) {
  s = trim_left(s);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

// Python's json.dumps with its default separators; ensure_ascii as asked.
std::string py_dumps(const ordered_json& j, bool ensure_ascii, int indent = -1) {
  JsonDumpOptions o;
  o.ensure_ascii = ensure_ascii;
  if (indent >= 0) {
    o.has_indent = true;
    o.indent_str = std::string(static_cast<size_t>(indent), ' ');
    o.item_sep = ",";
  }
  return json_dumps(from_json(j), o);
}

// {"name": str, "arguments"|"parameters": object | JSON string | absent} -> a call.
std::optional<ToolCall> call_from(const ordered_json& j) {
  if (!j.is_object()) return std::nullopt;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) return std::nullopt;
  auto args = j.find("arguments");
  if (args == j.end()) args = j.find("parameters");
  ToolCall c{name->get<std::string>(), "{}"};
  if (args != j.end()) {
    if (args->is_object()) c.arguments = py_dumps(*args, false);
    else if (args->is_string()) c.arguments = args->get<std::string>();
    else return std::nullopt;
  }
  return c;
}

// JSON text -> value; discarded when it is not JSON or nests deeper than io::kMaxJsonDepth (the
// recursive walks below must stay off the stack's end).
ordered_json parse_bounded(std::string_view text) {
  try {
    io::check_json_depth(text, "");
  } catch (const Error&) {
    return ordered_json(ordered_json::value_t::discarded);
  }
  return ordered_json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

std::optional<std::vector<ToolCall>> calls_from_json(std::string_view text) {
  const ordered_json j = parse_bounded(text);
  std::vector<ToolCall> calls;
  if (j.is_array()) {
    if (j.empty()) return std::nullopt;
    for (const ordered_json& e : j) {
      auto c = call_from(e);
      if (!c) return std::nullopt;
      calls.push_back(std::move(*c));
    }
  } else if (auto c = call_from(j)) {  // a discarded parse is not an object either
    calls.push_back(std::move(*c));
  } else {
    return std::nullopt;
  }
  return calls;
}

}  // namespace

bool template_reads_tools(std::string_view source) {
  // The name as a whole identifier (not my_tools, toolset).
  const auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  constexpr std::string_view name = "tools";
  for (size_t at = source.find(name); at != std::string_view::npos; at = source.find(name, at + 1)) {
    const size_t end = at + name.size();
    if ((at == 0 || !ident(source[at - 1])) && (end == source.size() || !ident(source[end]))) return true;
  }
  return false;
}

ordered_json messages_with_tool_prompt(const ordered_json& messages, const ordered_json& tools) {
  if (!messages.is_array()) throw Error("messages must be a list");
  const std::string prompt = std::string(kToolSystemPreamble) + py_dumps(tools, true, 2) + "\n";
  ordered_json out = ordered_json::array();
  size_t first = 0;
  if (!messages.empty() && messages[0].is_object() && messages[0].value("role", ordered_json()) == "system") {
    ordered_json sys = messages[0];
    const ordered_json& content = sys["content"];
    if (!content.is_null() && !content.is_string()) throw Error("messages[0]: a system message's content must be a string here");
    const std::string own = content.is_string() ? content.get<std::string>() : "";
    sys["content"] = own.empty() ? prompt : own + "\n\n" + prompt;
    out.push_back(std::move(sys));
    first = 1;
  } else {
    out.push_back(ordered_json{{"role", "system"}, {"content", prompt}});
  }
  for (size_t i = first; i < messages.size(); ++i) {
    ordered_json m = messages[i];
    if (!m.is_object()) throw Error("messages[" + std::to_string(i) + "] must be an object");
    auto calls = m.find("tool_calls");
    if (calls != m.end() && !calls->is_null()) {
      if (!calls->is_array()) throw Error("messages[" + std::to_string(i) + "].tool_calls must be a list");
      // The list the model answers with: [{"name": ..., "arguments": {...}}].
      ordered_json list = ordered_json::array();
      for (const ordered_json& c : *calls) {
        const ordered_json* f = c.is_object() && c.contains("function") ? &c["function"] : &c;
        if (!f->is_object() || !f->contains("name") || !(*f)["name"].is_string())
          throw Error("messages[" + std::to_string(i) + "].tool_calls: each call needs a function name");
        ordered_json args = f->value("arguments", ordered_json::object());
        if (args.is_string()) {  // OpenAI sends the arguments as JSON text
          ordered_json parsed = parse_bounded(args.get_ref<const std::string&>());
          if (!parsed.is_discarded()) args = std::move(parsed);
        }
        list.push_back(ordered_json{{"name", (*f)["name"]}, {"arguments", std::move(args)}});
      }
      std::string text = m.contains("content") && m["content"].is_string() ? m["content"].get<std::string>() : "";
      if (!text.empty()) text += "\n";
      m["content"] = text + py_dumps(list, false);
      m.erase("tool_calls");
    } else if (m.contains("content") && m["content"].is_null()) {
      m["content"] = "";
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::optional<std::vector<ToolCall>> parse_tool_calls(std::string_view answer) {
  std::string_view rest = trim(answer);
  if (rest.empty()) return std::nullopt;
  if (rest.front() == '[' || rest.front() == '{') return calls_from_json(rest);
  if (!rest.starts_with(kOpen)) return std::nullopt;
  std::vector<ToolCall> calls;
  while (!rest.empty()) {
    if (!rest.starts_with(kOpen)) return std::nullopt;
    rest.remove_prefix(kOpen.size());
    const size_t end = rest.find(kClose);
    // A last block may lack its closing tag (the answer ended at the end-of-turn token).
    const std::string_view body = trim(rest.substr(0, end));
    auto call = call_from(parse_bounded(body));
    if (!call) return std::nullopt;
    calls.push_back(std::move(*call));
    rest = end == std::string_view::npos ? std::string_view() : trim(rest.substr(end + kClose.size()));
  }
  return calls;
}

bool may_be_tool_call(std::string_view prefix) {
  const std::string_view p = trim_left(prefix);
  if (p.empty() || p.front() == '[' || p.front() == '{') return true;
  return p.size() <= kOpen.size() ? kOpen.starts_with(p) : p.starts_with(kOpen);
}

}  // namespace stablelm::chat
