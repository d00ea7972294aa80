// One HTTP request body of the generation endpoints, through the server's own validation:
// parse_json_object, then parse_chat_request + render_chat_request with real chat templates (the
// fixtures' StableLM, Llama 3.1, Hermes tool-use and Qwen ones; tools in the system message for
// those that do not read them) + encoding, or parse_completion_request; then
// make_generation_config. The same bytes are also read as a model's answer (parse_tool_calls).
// Every refusal must be an ApiError (the server's 400) or an Error; anything else would be a 500
// or a crash.
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "server/api_error.h"
#include "server/requests.h"
#include "stablelm/chat.h"
#include "stablelm/error.h"
#include "stablelm/tokenizer.h"
#include "stablelm/tool_calls.h"

namespace {

std::unique_ptr<stablelm::Tokenizer> g_tok;
std::vector<stablelm::chat::ChatTemplateConfig> g_templates;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_tok = stablelm::Tokenizer::from_file(STABLELM_FUZZ_DIR "/corpus/tokenizer_json/tiny_bpe.json");
  for (const char* id : {"stabilityai-stablelm-2-12b-chat", "stabilityai-stablelm-2-zephyr-1_6b",
                         "meta-llama-Llama-3.1-8B-Instruct", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use",
                         "Qwen-Qwen2.5-7B-Instruct"})
    g_templates.push_back(stablelm::chat::ChatTemplateConfig::load(std::string(STABLELM_FIXTURES_DIR) +
                                                                  "/chat-templates/" + id));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace server = stablelm::server;
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (auto calls = stablelm::chat::parse_tool_calls(text))
    for (const auto& c : *calls)
      if (c.name.empty()) std::abort();
  (void)stablelm::chat::may_be_tool_call(text);
  const server::Limits limits;
  const stablelm::GenerationConfig defaults;
  try {
    const nlohmann::json body = server::parse_json_object(text);
    if (body.contains("messages")) {
      const server::ChatRequest r = server::parse_chat_request(body, limits);
      for (const auto& cfg : g_templates) {
        try {
          const std::string prompt = server::render_chat_request(cfg, r);
          (void)g_tok->encode(prompt, /*allow_special=*/true);
        } catch (const server::ApiError&) {
        } catch (const stablelm::Error&) {
        }
      }
      (void)server::make_generation_config(r.sampling, defaults, r.sampling.max_tokens.value_or(16));
    } else {
      const server::CompletionRequest r = server::parse_completion_request(body, *g_tok, limits);
      (void)server::make_generation_config(r.sampling, defaults, *r.sampling.max_tokens);
    }
  } catch (const server::ApiError&) {
  } catch (const stablelm::Error&) {
  }
  return 0;
}
