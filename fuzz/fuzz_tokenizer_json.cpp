// tokenizer.json (vocab and merges scanner, normalizer, pre-tokenizer regexes, added tokens),
// then encode/decode with what loaded.
#include "fuzz_util.h"
#include "stablelm/error.h"
#include "tokenizer/load.h"
#include "tokenizer_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stablelm::fuzz::MemFile f(data, size);
  try {
    const auto tok = stablelm::tok::load_tokenizer_json(f.path(), {});
    stablelm::fuzz::exercise(*tok);
  } catch (const stablelm::Error&) {
  }
  return 0;
}
