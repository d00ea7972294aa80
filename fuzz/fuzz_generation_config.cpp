// generation_config.json -> GenerationConfig, validated as the CLI does.
#include "fuzz_util.h"
#include "stablelm/error.h"
#include "stablelm/generate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stablelm::fuzz::MemFile f(data, size);
  try {
    const stablelm::GenerationConfig c = stablelm::GenerationConfig::load(f.path());
    c.validate();
    (void)c.warnings();
    (void)c.new_token_budget(10);
  } catch (const stablelm::Error&) {
  }
  return 0;
}
