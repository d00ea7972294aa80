#include "chat_input.h"

#include <fstream>
#include <sstream>

#include "io/json.h"
#include "stablelm/chat.h"
#include "stablelm/error.h"

namespace stablelm::cli {

std::vector<int32_t> chat_prompt_from_files(const std::filesystem::path& model_dir, const Tokenizer& tok,
                                            const std::string& messages_file, const std::string& template_file,
                                            GenerationConfig& cfg, bool keep_eos) {
  auto read = [](const std::string& path, const char* option) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error(std::string(option) + " " + path + ": cannot open");
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  auto config = chat::ChatTemplateConfig::load(model_dir);
  if (!template_file.empty()) {
    config.default_template = read(template_file, "--template");
    config.tool_use_template.clear();
  }
  nlohmann::ordered_json j;
  j = io::parse_ordered_json(read(messages_file, "--messages"), "--messages " + messages_file);
  if (j.is_array()) j = nlohmann::ordered_json{{"messages", j}};
  std::string now;
  chat::ChatRequest request;
  try {
    request = chat::chat_request_from_json(j, &now);
  } catch (const Error& e) {
    throw Error("--messages " + messages_file + ": " + e.what());
  }
  request.add_generation_prompt = true;
  chat::RenderOptions opts;
  opts.now = now;
  std::vector<int32_t> ids = chat::chat_prompt_ids(config, tok, request, opts);
  if (!keep_eos) cfg.eos_token_ids = chat::end_of_turn_ids(config, tok, cfg.eos_token_ids);
  return ids;
}

}  // namespace stablelm::cli
