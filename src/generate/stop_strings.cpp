// Stop-string detection on raw token bytes (transformers' StopStringCriteria semantics).
#include <algorithm>

#include "stablelm/generate.h"

namespace stablelm {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (const auto& s : stops_) keep_ = std::max(keep_, s.empty() ? 0 : s.size() - 1);
  window_.reserve(keep_ + 256);
}

void StopStringMatcher::reset(std::string_view preceding_bytes) {
  window_.clear();
  if (preceding_bytes.size() > keep_) preceding_bytes.remove_prefix(preceding_bytes.size() - keep_);
  window_.append(preceding_bytes);
}

int StopStringMatcher::push(std::string_view token_bytes) {
  const size_t before = window_.size();
  window_.append(token_bytes);
  int hit = -1;
  for (size_t i = 0; i < stops_.size() && hit < 0; ++i) {
    const std::string& s = stops_[i];
    if (s.empty() || s.size() > window_.size()) continue;
    // A match counts when it ends inside the new bytes: it starts at or after before + 1 - size.
    const size_t from = before + 1 > s.size() ? before + 1 - s.size() : 0;
    if (!token_bytes.empty() && window_.find(s, from) != std::string::npos) hit = static_cast<int>(i);
  }
  if (window_.size() > keep_) window_.erase(0, window_.size() - keep_);
  return hit;
}

}  // namespace stablelm
