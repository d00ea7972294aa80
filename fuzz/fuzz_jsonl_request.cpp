// One `tokenize --jsonl` request line, parsed and encoded with a small byte-level BPE tokenizer
// (the tokenizer_json seed, loaded once before fuzzing: the 100k-token fixture takes seconds
// under ASan and coverage).
#include <memory>
#include <string_view>

#include "stablelm/error.h"
#include "stablelm/tokenizer.h"
#include "tokenizer/encode_request.h"

namespace {
std::unique_ptr<stablelm::Tokenizer> g_tok;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_tok = stablelm::Tokenizer::from_file(STABLELM_FUZZ_DIR "/corpus/tokenizer_json/tiny_bpe.json");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  try {
    const auto req = stablelm::tok::parse_encode_request(line, true, "stdin line 1");
    const auto ids = g_tok->encode(req.text, req.special);
    (void)g_tok->decode(ids);
  } catch (const stablelm::Error&) {
  }
  return 0;
}
