#pragma once
// One exception type for every user-facing failure: the message names the file, tensor,
// option or input that is wrong. The CLI prints it and exits non-zero; nothing crashes.
#include <stdexcept>
#include <string>

namespace stablelm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace stablelm
