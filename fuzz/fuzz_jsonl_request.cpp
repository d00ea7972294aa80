// One `tokenize --jsonl` request line, parsed and encoded with the tiny fixture model's
// tokenizer (loaded once).
#include <memory>
#include <string_view>

#include "stablelm/error.h"
#include "stablelm/tokenizer.h"
#include "tokenizer/encode_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::unique_ptr<stablelm::Tokenizer> tok =
      stablelm::Tokenizer::from_dir(STABLELM_FIXTURES_DIR "/models/tiny-stablelm-2");
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  try {
    const auto req = stablelm::tok::parse_encode_request(line, true, "stdin line 1");
    const auto ids = tok->encode(req.text, req.special);
    (void)tok->decode(ids);
  } catch (const stablelm::Error&) {
  }
  return 0;
}
