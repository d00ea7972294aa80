// config.json -> ModelConfig, and its JSON round trip.
#include <string>

#include "stablelm/config.h"
#include "stablelm/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const stablelm::ModelConfig c = stablelm::ModelConfig::parse(text, "config.json");
    (void)stablelm::ModelConfig::parse(c.to_json(), "round trip");  // what we write, we read
  } catch (const stablelm::Error&) {
  }
  return 0;
}
