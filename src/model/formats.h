#pragma once
// The one mapping from the public weight and KV formats to the kernels' element types (their
// names live in formats.cpp, declared in stablelm/model.h).
#include "kernels/kernels.h"
#include "stablelm/model.h"

namespace stablelm {

// The compute type a format converts to; WeightFormat::Stored has none (throws std::logic_error).
kernels::WType wtype_of(WeightFormat f);
kernels::WType wtype_of(KVFormat f);

}  // namespace stablelm
