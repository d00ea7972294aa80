#include "kernels/quant.h"

#include <stdexcept>

namespace stablelm::kernels {

void dequantize_row(const Weight& w, int64_t, float*) {
  // Filled in with the Q8/Q4 formats (issue 5).
  throw std::logic_error(std::string("dequantize_row: format not implemented: ") + wtype_name(w.type));
}

}  // namespace stablelm::kernels
