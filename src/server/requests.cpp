#include "server/requests.h"

#include <algorithm>
#include <limits>
#include <tuple>

#include "io/json.h"
#include "sampling/json_schema.h"
#include "stablelm/sampling.h"
#include "sampling/tool_calls_prefix.h"
#include "server/api_error.h"
#include "stablelm/chat.h"
#include "stablelm/error.h"
#include "stablelm/tool_calls.h"
#include "stablelm/tokenizer.h"

namespace stablelm::server {
namespace {

using json = nlohmann::ordered_json;

const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;  // null = absent, as OpenAI's clients send
  return &*it;
}

bool get_bool(const json& body, const char* name, bool def) {
  const json* v = field(body, name);
  if (!v) return def;
  if (!v->is_boolean()) throw bad_field(name, std::string("'") + name + "' must be a boolean");
  return v->get<bool>();
}

double get_number(const json& body, const char* name, double def, double lo, double hi) {
  const json* v = field(body, name);
  if (!v) return def;
  if (!v->is_number()) throw bad_field(name, std::string("'") + name + "' must be a number");
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi))
    throw bad_field(name, std::string("'") + name + "' must be in [" + json(lo).dump() + ", " + json(hi).dump() +
                              "], got " + v->dump());
  return x;
}

std::optional<int64_t> get_int(const json& body, const char* name, int64_t lo, int64_t hi) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer())
    throw bad_field(name, std::string("'") + name + "' must be an integer, got " + v->dump());
  // Unsigned values above int64's range are refused like any other out-of-range value.
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    throw bad_field(name, std::string("'") + name + "' is out of range");
  const int64_t x = v->get<int64_t>();
  if (x < lo || x > hi)
    throw bad_field(name, std::string("'") + name + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                              "], got " + std::to_string(x));
  return x;
}

std::vector<std::string> get_stop(const json& body) {
  const json* v = field(body, "stop");
  if (!v) return {};
  std::vector<std::string> out;
  if (v->is_string()) {
    out.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    if (v->size() > 16) throw bad_field("stop", "'stop' takes at most 16 strings");
    for (const json& s : *v) {
      if (!s.is_string()) throw bad_field("stop", "'stop' must be a string or a list of strings");
      out.push_back(s.get<std::string>());
    }
  } else {
    throw bad_field("stop", "'stop' must be a string or a list of strings");
  }
  for (const std::string& s : out) {
    if (s.empty()) throw bad_field("stop", "'stop' strings must not be empty");
    if (s.size() > 256) throw bad_field("stop", "'stop' strings are limited to 256 bytes");
  }
  return out;
}

SamplingFields get_sampling(const json& body, const Limits& limits, const char* max_tokens_name) {
  SamplingFields s;
  s.temperature = static_cast<float>(get_number(body, "temperature", 1.0, 0.0, 100.0));
  s.top_p = get_number(body, "top_p", 1.0, 0.0, 1.0);
  if (s.top_p <= 0.0) throw bad_field("top_p", "'top_p' must be in (0, 1]");
  s.top_k = static_cast<int>(get_int(body, "top_k", -1, 1 << 30).value_or(0));
  if (s.top_k < 0) s.top_k = 0;
  s.min_p = get_number(body, "min_p", 0.0, 0.0, 1.0);
  s.repetition_penalty = static_cast<float>(get_number(body, "repetition_penalty", 1.0, 0.0, 100.0));
  if (s.repetition_penalty <= 0.0f) throw bad_field("repetition_penalty", "'repetition_penalty' must be > 0");
  s.presence_penalty = static_cast<float>(get_number(body, "presence_penalty", 0.0, -2.0, 2.0));
  s.frequency_penalty = static_cast<float>(get_number(body, "frequency_penalty", 0.0, -2.0, 2.0));
  if (const json* lb = field(body, "logit_bias")) {
    if (!lb->is_object()) throw bad_field("logit_bias", "'logit_bias' must be an object of {\"token id\": bias}");
    if (lb->size() > 1024) throw bad_field("logit_bias", "'logit_bias' takes at most 1024 tokens");
    for (const auto& [key, bias] : lb->items()) {
      // The key is a token id written as a decimal string (JSON keys are strings).
      const bool digits = !key.empty() && key.size() <= 9 &&
                          std::all_of(key.begin(), key.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
      const int64_t id = digits ? std::stoll(key) : -1;
      if (!digits || (limits.vocab_size > 0 && id >= limits.vocab_size))
        throw bad_field("logit_bias", "'logit_bias' key \"" + io::text_excerpt(key, 40) +
                                          "\" is not a token id of the vocabulary [0, " +
                                          std::to_string(limits.vocab_size) + ")");
      if (!bias.is_number() || !(bias.get<double>() >= -100.0 && bias.get<double>() <= 100.0))
        throw bad_field("logit_bias", "'logit_bias' values must be numbers in [-100, 100]");
      const auto id32 = static_cast<int32_t>(id);
      std::erase_if(s.logit_bias, [id32](const auto& e) { return e.first == id32; });  // "7" and "07": the last wins
      s.logit_bias.emplace_back(id32, static_cast<float>(bias.get<double>()));
    }
  }
  if (const json* v = field(body, "seed")) {
    if (!v->is_number_integer()) throw bad_field("seed", "'seed' must be an integer");
    s.seed = v->is_number_unsigned() ? v->get<uint64_t>() : static_cast<uint64_t>(v->get<int64_t>());
  }
  s.stop = get_stop(body);
  // One field may constrain the output; a second is a 400 naming it.
  auto claim = [&](const char* param) {
    if (!s.constraint_field.empty())
      throw bad_field(param, std::string("'") + param + "' and '" + s.constraint_field +
                                 "' both constrain the output: give one");
    s.constraint_field = param;
  };
  // A schema from field `param`, compiled here, so that what it cannot hold is a 400 now.
  auto compile_schema = [&](const char* param, const json& schema) {
    claim(param);
    try {
      s.json_schema = sampling::compile_json_schema(schema);
    } catch (const Error& e) {
      throw bad_field(param, std::string("'") + param + "': " + e.what());
    }
  };
  auto compile_pattern = [&](const char* param, const json& pattern) {
    claim(param);
    if (!pattern.is_string()) throw bad_field(param, std::string("'") + param + "' must be a string (a regex)");
    try {
      s.regex = stablelm::compile_regex(pattern.get<std::string>());
    } catch (const Error& e) {
      throw bad_field(param, std::string("'") + param + "': " + e.what());
    }
  };
  auto compile_choices = [&](const char* param, const json& choices) {
    claim(param);
    if (!choices.is_array() || choices.empty() || choices.size() > 4096)
      throw bad_field(param, std::string("'") + param + "' must be a list of 1 to 4096 strings");
    std::vector<std::string> texts;
    for (const json& c : choices) {
      if (!c.is_string()) throw bad_field(param, std::string("'") + param + "' must be a list of strings");
      texts.push_back(c.get<std::string>());
    }
    try {
      s.regex = stablelm::compile_choice(texts);
    } catch (const Error& e) {
      throw bad_field(param, std::string("'") + param + "': " + e.what());
    }
  };
  if (const json* rf = field(body, "response_format")) {
    // JSON mode, or a JSON Schema. (vLLM takes response_format on /v1/completions too.)
    const json* type = rf->is_object() ? field(*rf, "type") : nullptr;
    if (type == nullptr || !type->is_string())
      throw bad_field("response_format", "'response_format' must be an object with a string 'type'");
    if (*type == "json_object") {
      claim("response_format");
      s.json_object = true;
    } else if (*type == "json_schema") {
      const json* js = field(*rf, "json_schema");
      if (js == nullptr || !js->is_object())
        throw bad_field("response_format", "'response_format' json_schema needs a 'json_schema' object: "
                                           "{\"name\": ..., \"schema\": {...}}");
      if (const json* name = field(*js, "name"); name && !name->is_string())
        throw bad_field("response_format", "'response_format' json_schema 'name' must be a string");
      if (const json* strict = field(*js, "strict"); strict && !strict->is_boolean() && !strict->is_null())
        throw bad_field("response_format", "'response_format' json_schema 'strict' must be true or false");
      const json* schema = field(*js, "schema");
      if (schema == nullptr)
        throw bad_field("response_format", "'response_format' json_schema needs a 'schema' (a JSON Schema object)");
      compile_schema("response_format", *schema);
    } else if (*type != "text") {
      throw bad_field("response_format", "'response_format' type must be \"text\", \"json_object\" or \"json_schema\"");
    }
  }
  // The same constraints under the names other servers give them: vLLM's guided_json (a schema,
  // or its JSON text), guided_regex and guided_choice (raw text, not JSON), llama.cpp's
  // json_schema, and vLLM's newer structured_outputs object holding json, regex or choice.
  auto schema_field = [&](const char* name, const json& g) {
    if (!g.is_string()) return compile_schema(name, g);
    json parsed;
    try {
      parsed = io::parse_ordered_json(g.get<std::string>(), std::string("'") + name + "'");
    } catch (const Error& e) {
      throw bad_field(name, e.what());
    }
    compile_schema(name, parsed);
  };
  for (const char* name : {"guided_json", "json_schema"})
    if (const json* g = field(body, name); g != nullptr && !g->is_null()) schema_field(name, *g);
  if (const json* g = field(body, "guided_regex"); g != nullptr && !g->is_null()) compile_pattern("guided_regex", *g);
  if (const json* g = field(body, "guided_choice"); g != nullptr && !g->is_null()) compile_choices("guided_choice", *g);
  if (const json* so = field(body, "structured_outputs"); so != nullptr && !so->is_null()) {
    if (!so->is_object()) throw bad_field("structured_outputs", "'structured_outputs' must be an object");
    int given = 0;
    for (const auto& [key, v] : so->items()) {
      if (v.is_null() || (v.is_boolean() && !v.get<bool>())) continue;
      ++given;
      if (key == "json") schema_field("structured_outputs", v);
      else if (key == "regex") compile_pattern("structured_outputs", v);
      else if (key == "choice") compile_choices("structured_outputs", v);
      else if (key == "json_object" && v.is_boolean()) claim("structured_outputs"), s.json_object = true;
      else if (key == "json_object")
        throw bad_field("structured_outputs", "'structured_outputs' json_object must be true or false");
      else
        throw bad_field("structured_outputs", "'structured_outputs' " + io::text_excerpt(key, 40) +
                                                  " is not supported (json, regex, choice and json_object are)");
    }
    if (given > 1) throw bad_field("structured_outputs", "'structured_outputs' takes one of json, regex, choice");
  }
  s.max_tokens = get_int(body, max_tokens_name, 0, std::numeric_limits<int32_t>::max());
  s.n = static_cast<int>(get_int(body, "n", 1, limits.max_n).value_or(1));
  return s;
}

std::pair<bool, bool> get_stream(const json& body) {
  const bool stream = get_bool(body, "stream", false);
  bool include_usage = false;
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) throw bad_field("stream_options", "'stream_options' must be an object");
    if (!stream) throw bad_field("stream_options", "'stream_options' is only allowed with 'stream': true");
    include_usage = get_bool(*so, "include_usage", false);
  }
  return {stream, include_usage};
}

std::vector<int32_t> token_list(const json& arr, const Tokenizer& tok) {
  std::vector<int32_t> ids;
  ids.reserve(arr.size());
  for (const json& x : arr) {
    if (!x.is_number_integer()) throw bad_field("prompt", "'prompt' token lists must hold integers");
    // Non-negative JSON integers are stored unsigned; anything past int64 is out of range anyway.
    const int64_t id = x.is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(x.get<uint64_t>(), 1ull << 40))
                                              : x.get<int64_t>();
    if (id < 0 || id >= tok.vocab_size() || !tok.is_valid_id(static_cast<int32_t>(id)))
      throw bad_field("prompt", "token id " + x.dump() + " is outside the vocabulary [0, " +
                                    std::to_string(tok.vocab_size()) + ")");
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

std::vector<int32_t> encode_text(const Tokenizer& tok, const std::string& text) {
  try {
    std::vector<int32_t> ids;
    if (tok.add_bos_token() && tok.bos_id()) ids.push_back(*tok.bos_id());
    std::vector<int32_t> body = tok.encode(text, /*allow_special=*/true);
    ids.insert(ids.end(), body.begin(), body.end());
    return ids;
  } catch (const Error& e) {
    throw bad_field("prompt", e.what());  // invalid UTF-8 and the like
  }
}

// The schema a forced call's arguments follow: the function's `parameters`, read as an object
// (OpenAI's arguments are one: a root without a type gets "type": "object"). Null without
// parameters: any object.
std::shared_ptr<const sampling::SchemaGraph> arguments_schema(const json& function, bool lenient) {
  const json* p = field(function, "parameters");
  if (p == nullptr || p->is_null()) return nullptr;
  json s = *p;
  if (s.is_object() && !s.contains("type")) {
    bool combined = false;
    for (const char* k : {"$ref", "anyOf", "oneOf", "allOf", "enum", "const"}) combined |= s.contains(k);
    if (!combined) s["type"] = "object";
  }
  auto g = sampling::compile_json_schema(s, lenient);
  if (g->unions[g->root].leaf[sampling::kObject] == sampling::SchemaGraph::kNone)
    throw Error("json schema: the arguments are an object, and 'parameters' allows none (at #)");
  return g;
}

}  // namespace

json parse_json_object(const std::string& body) {
  try {
    io::check_json_depth(body, "the request body");  // what reaches the templates is walked recursively
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ApiError(400, "the request body is not valid JSON");
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
  return j;
}

CompletionRequest parse_completion_request(const json& body, const Tokenizer& tok, const Limits& limits) {
  CompletionRequest r;
  const json* p = field(body, "prompt");
  if (!p) throw bad_field("prompt", "'prompt' is required");
  auto add_text = [&](const json& s) {
    r.prompt_texts.push_back(s.get<std::string>());
    r.prompts.push_back(encode_text(tok, *r.prompt_texts.back()));
  };
  if (p->is_string()) {
    add_text(*p);
  } else if (p->is_array() && !p->empty() && p->front().is_number()) {
    r.prompts.push_back(token_list(*p, tok));
    r.prompt_texts.emplace_back();
  } else if (p->is_array() && !p->empty()) {
    if (p->size() > 1024) throw bad_field("prompt", "'prompt' holds more than 1024 prompts");
    for (const json& e : *p) {
      if (e.is_string()) {
        add_text(e);
      } else if (e.is_array()) {
        r.prompts.push_back(token_list(e, tok));
        r.prompt_texts.emplace_back();
      } else {
        throw bad_field("prompt", "'prompt' must be a string, a list of strings, a list of token ids or a list of lists");
      }
    }
  } else {
    throw bad_field("prompt", "'prompt' must be a non-empty string, list of strings, list of token ids or list of lists");
  }
  for (const auto& ids : r.prompts)
    if (ids.empty()) throw bad_field("prompt", "a prompt has no tokens");
  r.sampling = get_sampling(body, limits, "max_tokens");
  if (field(body, "suffix"))  // insertion needs a fill-in-the-middle model; refused, not ignored
    throw bad_field("suffix", "'suffix' is not supported");
  if (!r.sampling.max_tokens) r.sampling.max_tokens = 16;  // OpenAI's legacy default
  r.best_of = static_cast<int>(get_int(body, "best_of", 1, limits.max_n).value_or(r.sampling.n));
  if (r.best_of < r.sampling.n) throw bad_field("best_of", "'best_of' must be >= 'n'");
  r.echo = get_bool(body, "echo", false);
  if (auto lp = get_int(body, "logprobs", 0, limits.max_logprobs)) r.logprobs = static_cast<int>(*lp);
  std::tie(r.stream, r.include_usage) = get_stream(body);
  if (r.stream && r.best_of > r.sampling.n) throw bad_field("best_of", "'best_of' > 'n' cannot be streamed");
  if (*r.sampling.max_tokens == 0 && !r.echo)
    throw bad_field("max_tokens", "'max_tokens' must be at least 1 (0 is allowed with 'echo')");
  if (*r.sampling.max_tokens == 0 && (r.sampling.n > 1 || r.best_of > 1))
    throw bad_field("max_tokens", "'max_tokens': 0 generates nothing: 'n' and 'best_of' must be 1");
  return r;
}

ChatRequest parse_chat_request(const json& body, const Limits& limits) {
  ChatRequest r;
  const json* m = field(body, "messages");
  if (!m || !m->is_array() || m->empty()) throw bad_field("messages", "'messages' must be a non-empty list");
  for (const json& msg : *m) {
    if (!msg.is_object()) throw bad_field("messages", "each message must be an object");
    auto role = msg.find("role");
    if (role == msg.end() || !role->is_string()) throw bad_field("messages", "each message needs a string 'role'");
    auto content = msg.find("content");
    if (content != msg.end() && !content->is_null() && !content->is_string() && !content->is_array())
      throw bad_field("messages", "a message's 'content' must be a string or a list of parts");
  }
  r.messages = *m;
  if (const json* t = field(body, "tools")) {
    if (!t->is_array()) throw bad_field("tools", "'tools' must be a list");
    for (const json& tool : *t) {
      const json* f = tool.is_object() ? field(tool, "function") : nullptr;
      if (!tool.is_object() || tool.value("type", json()) != "function" || !f || !f->is_object() ||
          !f->contains("name") || !(*f)["name"].is_string())
        throw bad_field("tools", "each tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
    }
    r.tools = *t;
  }
  if (const json* c = field(body, "tool_choice")) {
    if (c->is_string() && (*c == "auto" || *c == "none" || *c == "required")) {
      r.tool_choice = c->get<std::string>();
    } else if (c->is_object()) {
      const json* f = field(*c, "function");
      if (c->value("type", json()) != "function" || f == nullptr || !f->is_object() || !field(*f, "name") ||
          !(*f)["name"].is_string())
        throw bad_field("tool_choice", "'tool_choice' naming a function must be {\"type\": \"function\", "
                                       "\"function\": {\"name\": ...}}");
      r.tool_choice = "function";
      r.forced_function = (*f)["name"].get<std::string>();
    } else {
      throw bad_field("tool_choice", "'tool_choice' must be \"auto\", \"none\", \"required\" or a function");
    }
  }
  if (r.tool_choice == "required" || r.tool_choice == "function") {
    if (!r.tools.is_array() || r.tools.empty())
      throw bad_field("tool_choice", "'tool_choice' \"" + r.tool_choice + "\" needs 'tools'");
    bool named_is_a_tool = false;
    for (const json& tool : r.tools) named_is_a_tool |= tool["function"]["name"] == r.forced_function;
    // The constraint matches names as raw JSON string bytes.
    for (const json& tool : r.tools) {
      const std::string n = tool["function"]["name"].get<std::string>();
      if (!sampling::is_forceable_tool_name(n))
        throw bad_field("tools", "function name \"" + io::text_excerpt(n, 64) + "\" cannot be forced by 'tool_choice' \"" +
                                     r.tool_choice + "\": names must be 1-255 bytes without quotes, backslashes or "
                                     "control characters");
    }
    if (r.tool_choice == "function" && !named_is_a_tool)
      throw bad_field("tool_choice", "'tool_choice' names function \"" + io::text_excerpt(r.forced_function, 64) +
                                         "\", which is not in 'tools'");
    for (const json& tool : r.tools) {
      const json& f = tool["function"];
      const json* strict = field(f, "strict");
      const bool is_strict = strict && strict->is_boolean() && strict->get<bool>();
      // Strict: the schema exactly, or 400. Else what can be enforced of it (assertions the
      // compiler cannot hold are dropped), or, when even that fails, any object.
      std::shared_ptr<const sampling::SchemaGraph> g;
      try {
        g = arguments_schema(f, !is_strict);
      } catch (const Error& e) {
        if (is_strict)
          throw bad_field("tools", "function \"" + io::text_excerpt(f["name"].get<std::string>(), 64) +
                                       "\" is strict, and its 'parameters' cannot be enforced: " + e.what());
      }
      r.tool_schemas.push_back(std::move(g));
    }
  }
  r.parallel_tool_calls = get_bool(body, "parallel_tool_calls", true);
  r.sampling = get_sampling(body, limits, "max_completion_tokens");
  if (!r.sampling.max_tokens) r.sampling.max_tokens = get_int(body, "max_tokens", 1, std::numeric_limits<int32_t>::max());
  if (r.sampling.max_tokens && *r.sampling.max_tokens < 1)
    throw bad_field("max_completion_tokens", "'max_completion_tokens' must be at least 1");
  if (r.sampling.constrained() && r.tools_forced())
    throw bad_field(r.sampling.constraint_field, "'" + r.sampling.constraint_field +
                                                     "' cannot be combined with 'tool_choice' \"" + r.tool_choice +
                                                     "\" (the answer is the calls)");
  r.logprobs = get_bool(body, "logprobs", false);
  r.top_logprobs = static_cast<int>(get_int(body, "top_logprobs", 0, limits.max_logprobs).value_or(0));
  if (field(body, "top_logprobs") && !r.logprobs)
    throw bad_field("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  std::tie(r.stream, r.include_usage) = get_stream(body);
  return r;
}

std::string render_chat_prompt(const chat::ChatTemplateConfig& cfg, const json& messages, const json& tools,
                               bool add_generation_prompt) {
  if (!cfg.has_template())
    throw ApiError(400, "the model has no chat template (tokenizer_config.json has no chat_template)", "messages");
  chat::ChatRequest r;
  r.messages = messages;
  r.tools = tools;
  r.add_generation_prompt = add_generation_prompt;
  try {
    return chat::apply_chat_template(cfg, r);
  } catch (const Error& e) {  // TemplateError included
    throw ApiError(400, std::string("chat template: ") + e.what(), "messages");
  }
}

std::string render_chat_request(const chat::ChatTemplateConfig& cfg, const ChatRequest& r) {
  if (!r.tools_in_use()) return render_chat_prompt(cfg, r.messages, nullptr, true);
  if (!cfg.has_template() || chat::template_reads_tools(cfg.select(/*with_tools=*/true)))
    return render_chat_prompt(cfg, r.messages, r.tools, true);
  json messages;
  try {
    messages = chat::messages_with_tool_prompt(r.messages, r.tools);
  } catch (const Error& e) {
    throw bad_field("messages", e.what());
  }
  return render_chat_prompt(cfg, messages, r.tools, true);
}

void apply_tool_choice(const ChatRequest& r, GenerationConfig& cfg) {
  if (!r.tools_forced()) return;
  cfg.format = GenerationConfig::Format::ToolCalls;
  cfg.tool_call_names.clear();
  cfg.tool_call_schemas.clear();
  for (size_t i = 0; i < r.tools.size(); ++i) {
    const std::string name = r.tools[i]["function"]["name"].get<std::string>();
    if (r.tool_choice == "function" && name != r.forced_function) continue;
    cfg.tool_call_names.push_back(name);
    cfg.tool_call_schemas.push_back(i < r.tool_schemas.size() ? r.tool_schemas[i] : nullptr);
  }
  cfg.max_tool_calls = r.tool_choice == "function" || !r.parallel_tool_calls ? 1 : 0;
}

GenerationConfig make_generation_config(const SamplingFields& s, const GenerationConfig& model_defaults,
                                        int64_t max_new_tokens) {
  GenerationConfig c;
  c.eos_token_ids = model_defaults.eos_token_ids;
  c.bos_token_id = model_defaults.bos_token_id;
  c.pad_token_id = model_defaults.pad_token_id;
  c.temperature = s.temperature;
  c.do_sample = s.temperature > 0.0f;
  c.top_k = s.top_k;
  c.top_p = s.top_p;
  if (s.min_p > 0.0) c.min_p = s.min_p;
  c.repetition_penalty = s.repetition_penalty;
  c.presence_penalty = s.presence_penalty;
  c.frequency_penalty = s.frequency_penalty;
  c.logit_bias = s.logit_bias;
  c.max_new_tokens = max_new_tokens;
  c.stop_strings = s.stop;
  if (s.json_object) c.format = GenerationConfig::Format::JsonObject;
  if (s.json_schema) {
    c.format = GenerationConfig::Format::JsonSchema;
    c.json_schema = s.json_schema;
  }
  if (s.regex) {
    c.format = GenerationConfig::Format::Regex;
    c.regex = s.regex;
  }
  try {
    c.validate();
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
  return c;
}

}  // namespace stablelm::server
