// stablelm chat-template: renders chat templates exactly as transformers' apply_chat_template.
//
//   stablelm chat-template (--model M | --template FILE.jinja) --jsonl < requests.jsonl
//       each line {"messages": [...], "add_generation_prompt": bool, "tools": [...]?, "documents": [...]?,
//       "bos_token": "...", "eos_token": "...", "now": "2024-09-26T13:45:30"?, ...any other variables}
//       -> one line each, in order: {"text": "..."} or {"error": "..."}
//   stablelm chat-template (--model M | --template FILE.jinja) --messages FILE.json [--add-generation-prompt]
//       -> the rendering on stdout, as is
//
// With --model the template (tool_use when a line has tools and the model has one) and the special
// tokens come from the model's tokenizer files; a line's own tokens win. --template with --model
// takes the template from the file and the tokens from the model. Blank lines are skipped.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "command.h"
#include "io/json.h"
#include "model_path.h"
#include "stablelm/chat.h"
#include "stablelm/error.h"

namespace stablelm::cli {
namespace {

using nlohmann::ordered_json;

struct Options {
  std::string model, revision, template_file, messages_file, tools_file, now;
  bool jsonl = false, add_generation_prompt = false;
};

std::string read_text(const std::string& path, const char* option) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(std::string(option) + " " + path + ": cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

ordered_json read_json(const std::string& path, const char* option) {
  return io::parse_ordered_json(read_text(path, option), std::string(option) + " " + path);
}

// Templates parsed once per source text (a model may have a default and a tool_use template).
class Renderer {
 public:
  explicit Renderer(const Options& o) {
    if (!o.model.empty()) config_ = chat::ChatTemplateConfig::load(resolve_model_dir(o.model, o.revision));
    if (!o.template_file.empty()) {
      config_.default_template = read_text(o.template_file, "--template");
      config_.tool_use_template.clear();
      config_.source = o.template_file;
    }
    if (!config_.has_template())
      throw Error("chat-template: " + o.model + " has no chat template (tokenizer_config.json has no \"chat_template\" "
                  "and there is no chat_template.jinja); pass one with --template FILE.jinja");
  }

  std::string render(const chat::ChatRequest& r, const std::string& now) {
    const std::string& source = config_.select(!r.tools.is_null());
    auto it = parsed_.find(&source);
    if (it == parsed_.end()) {
      Parsed p;
      try {
        p.tmpl = std::make_unique<chat::Template>(source);
      } catch (const chat::TemplateError& e) {
        p.error = e.what();
      }
      it = parsed_.emplace(&source, std::move(p)).first;
    }
    if (!it->second.tmpl) throw chat::TemplateError("TemplateSyntaxError", it->second.error);
    chat::RenderOptions opts;
    opts.now = now;
    return chat::render_chat(*it->second.tmpl, r, config_.special_tokens, opts);
  }

 private:
  struct Parsed {
    std::unique_ptr<chat::Template> tmpl;
    std::string error;
  };
  chat::ChatTemplateConfig config_;
  std::map<const std::string*, Parsed> parsed_;
};

std::string dump(const ordered_json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

int run_jsonl(Renderer& renderer) {
  std::string line;
  size_t line_no = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ordered_json out;
    try {
      ordered_json j;
      j = io::parse_ordered_json(line, "stdin line " + std::to_string(line_no));
      std::string now;
      chat::ChatRequest r = chat::chat_request_from_json(j, &now);
      out["text"] = renderer.render(r, now);
    } catch (const Error& e) {
      out = ordered_json{{"error", e.what()}};
    }
    std::string s = dump(out) + "\n";
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  }
  return 0;
}

int run(const Options& o) {
  if (o.model.empty() && o.template_file.empty())
    throw Error("chat-template: give --model M or --template FILE.jinja");
  if (o.jsonl == !o.messages_file.empty())
    throw Error("chat-template: give exactly one of --jsonl (requests on stdin) or --messages FILE.json");
  Renderer renderer(o);
  if (o.jsonl) return run_jsonl(renderer);
  ordered_json m = read_json(o.messages_file, "--messages");
  // A list of messages, or a whole request object as in --jsonl.
  ordered_json req = m.is_array() ? ordered_json{{"messages", m}} : m;
  if (o.add_generation_prompt) req["add_generation_prompt"] = true;
  if (!o.tools_file.empty()) req["tools"] = read_json(o.tools_file, "--tools");
  if (!o.now.empty()) req["now"] = o.now;
  std::string now;
  chat::ChatRequest r;
  try {
    r = chat::chat_request_from_json(req, &now);
  } catch (const Error& e) {
    throw Error("--messages " + o.messages_file + ": " + e.what());
  }
  std::string text = renderer.render(r, now);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

Registration reg("chat-template", "Render a chat template as transformers' apply_chat_template does", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.add_option("--model", o->model, "Model directory or hub id: its tokenizer_config.json template and special tokens");
  app.add_option("--revision", o->revision, "Hub revision (branch, tag or commit) for a hub id");
  app.add_option("--template", o->template_file, "A chat template file (.jinja); with --model, overrides its template");
  app.add_flag("--jsonl", o->jsonl,
               "Read one request per line on stdin ({\"messages\": [...], \"add_generation_prompt\": ..., ...}), "
               "write {\"text\": ...} or {\"error\": ...} per line");
  app.add_option("--messages", o->messages_file, "A JSON file: a list of OpenAI-style messages (or a request object)");
  app.add_flag("--add-generation-prompt", o->add_generation_prompt, "With --messages: end with the assistant's turn prompt");
  app.add_option("--tools", o->tools_file, "With --messages: a JSON file with the list of tools passed to the template");
  app.add_option("--now", o->now, "The time strftime_now() reads, ISO 8601 (default: the clock)");
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace stablelm::cli
