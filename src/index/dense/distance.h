// Distance kernels for dense vectors, chosen once at start-up from what the
// CPU reports (CPUID), never fixed by -march at build time: each ISA variant
// is compiled with its own target attribute and dispatched through a table.
//
// Conventions: every kernel returns a raw similarity or distance; the codec
// layer turns those into "smaller is closer" distances. `dim` is the number of
// elements (floats, int8s) or, for binary codes, bytes.
//
// Thread-safety: kernels are pure functions; GetKernels() is safe to call
// from any thread (initialised once).
#ifndef QUARRY_INDEX_DENSE_DISTANCE_H_
#define QUARRY_INDEX_DENSE_DISTANCE_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace quarry::index::dense {

enum class Isa { kScalar, kAvx2, kAvx512, kAvx512Vnni };

struct Kernels {
  Isa isa = Isa::kScalar;
  std::string_view name;  // "scalar", "avx2", "avx512", "avx512-vnni"
  // Sum of squared differences of two float vectors.
  float (*l2_sq_f32)(const float* a, const float* b, size_t dim) = nullptr;
  // Inner product of two float vectors.
  float (*dot_f32)(const float* a, const float* b, size_t dim) = nullptr;
  // Inner product of two int8 vectors (exact, in int32).
  int32_t (*dot_i8)(const int8_t* a, const int8_t* b, size_t dim) = nullptr;
  // Sum of squared differences of two int8 vectors (exact, in int32).
  int32_t (*l2_sq_i8)(const int8_t* a, const int8_t* b, size_t dim) = nullptr;
  // Number of differing bits between two binary codes of `bytes` bytes.
  uint32_t (*hamming)(const uint8_t* a, const uint8_t* b, size_t bytes) = nullptr;
  // Inner product of unsigned bytes `a` with signed bytes `b` (exact, in
  // int32). The int8 codec keeps its prepared query as q + 128 so that VNNI's
  // vpdpbusd computes this in one instruction per 64 bytes.
  int32_t (*dot_u8i8)(const uint8_t* a, const int8_t* b, size_t dim) = nullptr;
};

// Integer kernels are exact whenever the true result fits in int32, which
// holds for any input when dim < 131072 (dot_i8), dim <= 65536 (dot_u8i8) and
// dim < 32768 (l2_sq_i8); the int8 codec caps dim at 32767 for that reason.

// The best kernels this CPU supports. QUARRY_ISA=scalar|avx2|avx512|avx512-vnni
// in the environment caps the choice (for benchmarks and debugging).
const Kernels& GetKernels();
// The kernels of one ISA; nullptr when this CPU (or this build) lacks it.
const Kernels* GetKernelsFor(Isa isa);
// ISAs usable on this CPU, scalar first.
std::vector<Isa> SupportedIsas();

}  // namespace quarry::index::dense

#endif  // QUARRY_INDEX_DENSE_DISTANCE_H_
