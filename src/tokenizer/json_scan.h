#pragma once
// A small, strict JSON scanner for the two big parts of tokenizer.json (model.vocab with ~100k
// entries, model.merges with ~100k pairs). Building a nlohmann DOM for them costs most of a
// second; scanning them directly keeps loading well under 100 ms. The rest of the file still
// goes through nlohmann. Errors throw stablelm::Error with the file and byte offset.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stablelm::tok {

struct JsonSpan {
  size_t begin = 0, end = 0;  // [begin, end) of a value in the file text; end == 0: absent
};

// Locates model.vocab and model.merges. Returns false when the document's top level does not
// scan (the caller then lets nlohmann report the error).
bool find_vocab_and_merges(std::string_view text, JsonSpan& vocab, JsonSpan& merges);

// {"token": id, ...}
std::vector<std::pair<std::string, int64_t>> scan_vocab(std::string_view text, JsonSpan span, const std::string& file);
// ["a b", ...] or [["a", "b"], ...]; a string entry is split at its single space.
std::vector<std::pair<std::string, std::string>> scan_merges(std::string_view text, JsonSpan span, const std::string& file);

}  // namespace stablelm::tok
