// The tiktoken file (base64 token, rank per line), then encode/decode with what loaded.
#include "fuzz_util.h"
#include "stablelm/error.h"
#include "tokenizer/load.h"
#include "tokenizer_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stablelm::fuzz::MemFile f(data, size);
  try {
    const auto tok = stablelm::tok::load_tiktoken(f.path(), {});
    stablelm::fuzz::exercise(*tok);
  } catch (const stablelm::Error&) {
  }
  return 0;
}
