#include "text_input.h"

#include <algorithm>

#include "stablelm/error.h"
#include "stablelm/tokenizer.h"

namespace stablelm::cli {

std::vector<int32_t> encode_text(const std::filesystem::path& model_dir, const std::string& text,
                                 const std::string& option) {
  if (text.empty()) throw Error(option + ": the text is empty");
  auto tok = Tokenizer::from_dir(model_dir);
  std::vector<int32_t> ids = tok->encode(text);
  if (ids.empty()) throw Error(option + ": the text encodes to no tokens");
  return ids;
}

std::pair<std::vector<int32_t>, std::vector<int32_t>> encode_context_continuation(
    const std::filesystem::path& model_dir, const std::string& context, const std::string& continuation) {
  if (context.empty()) throw Error("--prompt: the context text is empty");
  if (continuation.empty()) throw Error("--continuation-text: the continuation text is empty");
  return encode_context_continuation(*Tokenizer::from_dir(model_dir), context, continuation);
}

std::pair<std::vector<int32_t>, std::vector<int32_t>> encode_context_continuation(
    const Tokenizer& tok, const std::string& context, const std::string& continuation) {
  if (context.empty()) throw Error("the context text is empty");
  if (continuation.empty()) throw Error("the continuation text is empty");
  std::vector<int32_t> ctx = tok.encode(context);
  std::vector<int32_t> whole = tok.encode(context + continuation);
  // The context's ids are normally a prefix of the whole; where a merge crosses the boundary
  // they are not, and the continuation starts where the two first differ.
  size_t common = 0;
  while (common < ctx.size() && common < whole.size() && ctx[common] == whole[common]) ++common;
  if (common == 0) throw Error("--prompt: the context encodes to no tokens");
  std::vector<int32_t> cont(whole.begin() + static_cast<std::ptrdiff_t>(std::min(common, whole.size())), whole.end());
  ctx.resize(common);
  if (cont.empty()) throw Error("--continuation-text: the continuation encodes to no tokens");
  return {ctx, cont};
}

void require_one(bool has_ids, bool has_text, const std::string& ids_option, const std::string& text_option) {
  if (has_ids && has_text) throw Error(ids_option + " and " + text_option + " conflict: give one of them");
  if (!has_ids && !has_text) throw Error("give " + ids_option + " or " + text_option);
}

}  // namespace stablelm::cli
