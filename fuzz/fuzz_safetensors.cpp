// The safetensors header (and data offsets) of a model file.
#include "fuzz_util.h"
#include "io/safetensors.h"
#include "stablelm/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stablelm::fuzz::MemFile f(data, size);
  try {
    stablelm::io::SafetensorsFile st(f.path());
    for (const auto& t : st.tensors()) {
      // Every tensor's bytes lie inside the mapping: touch its first and last byte.
      if (t.bytes) {
        volatile uint8_t a = t.data[0], b = t.data[t.bytes - 1];
        (void)a;
        (void)b;
      }
      (void)st.find(t.name);
    }
  } catch (const stablelm::Error&) {
  }
  return 0;
}
