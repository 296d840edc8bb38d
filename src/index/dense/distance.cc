// Distance kernels: scalar, AVX2+FMA, AVX-512 and AVX-512 VNNI/VPOPCNTDQ.
//
// Each SIMD variant is compiled with a function-level target attribute, so the
// library itself needs no -march flag and runs on any x86-64; GetKernels()
// picks the best table once, from __builtin_cpu_supports.
#include "index/dense/distance.h"

#include <cstdlib>
#include <cstring>
#include <string_view>

#if defined(__x86_64__)
// GCC 12's _mm512_reduce_* helpers trip -Wuninitialized inside its own header
// (a deliberately undefined vector); harmless, silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>
#endif

namespace quarry::index::dense {
namespace {

// --- scalar ------------------------------------------------------------------

float L2SqF32Scalar(const float* a, const float* b, size_t dim) {
  float sum = 0.0f;
  for (size_t i = 0; i < dim; ++i) {
    float d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

float DotF32Scalar(const float* a, const float* b, size_t dim) {
  float sum = 0.0f;
  for (size_t i = 0; i < dim; ++i) sum += a[i] * b[i];
  return sum;
}

int32_t DotI8Scalar(const int8_t* a, const int8_t* b, size_t dim) {
  int32_t sum = 0;
  for (size_t i = 0; i < dim; ++i) sum += int32_t(a[i]) * int32_t(b[i]);
  return sum;
}

int32_t L2SqI8Scalar(const int8_t* a, const int8_t* b, size_t dim) {
  int32_t sum = 0;
  for (size_t i = 0; i < dim; ++i) {
    int32_t d = int32_t(a[i]) - int32_t(b[i]);
    sum += d * d;
  }
  return sum;
}

uint32_t HammingScalar(const uint8_t* a, const uint8_t* b, size_t bytes) {
  uint32_t sum = 0;
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    sum += static_cast<uint32_t>(__builtin_popcountll(x ^ y));
  }
  for (; i < bytes; ++i) sum += static_cast<uint32_t>(__builtin_popcount(a[i] ^ b[i]));
  return sum;
}

#if defined(__x86_64__)

// --- AVX2 + FMA ----------------------------------------------------------------

#define QUARRY_AVX2 __attribute__((target("avx2,fma,popcnt")))

QUARRY_AVX2 inline float HorizontalSum256(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_hadd_ps(lo, lo);
  lo = _mm_hadd_ps(lo, lo);
  return _mm_cvtss_f32(lo);
}

QUARRY_AVX2 inline int32_t HorizontalSum256i(__m256i v) {
  __m128i lo = _mm256_castsi256_si128(v);
  __m128i hi = _mm256_extracti128_si256(v, 1);
  lo = _mm_add_epi32(lo, hi);
  lo = _mm_hadd_epi32(lo, lo);
  lo = _mm_hadd_epi32(lo, lo);
  return _mm_cvtsi128_si32(lo);
}

QUARRY_AVX2 float L2SqF32Avx2(const float* a, const float* b, size_t dim) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    acc1 = _mm256_fmadd_ps(d1, d1, acc1);
  }
  for (; i + 8 <= dim; i += 8) {
    __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    acc0 = _mm256_fmadd_ps(d, d, acc0);
  }
  float sum = HorizontalSum256(_mm256_add_ps(acc0, acc1));
  for (; i < dim; ++i) {
    float d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

QUARRY_AVX2 float DotF32Avx2(const float* a, const float* b, size_t dim) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= dim; i += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  }
  float sum = HorizontalSum256(_mm256_add_ps(acc0, acc1));
  for (; i < dim; ++i) sum += a[i] * b[i];
  return sum;
}

QUARRY_AVX2 int32_t DotI8Avx2(const int8_t* a, const int8_t* b, size_t dim) {
  __m256i acc = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    __m256i va = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    __m256i vb = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(va, vb));
  }
  int32_t sum = HorizontalSum256i(acc);
  for (; i < dim; ++i) sum += int32_t(a[i]) * int32_t(b[i]);
  return sum;
}

QUARRY_AVX2 int32_t L2SqI8Avx2(const int8_t* a, const int8_t* b, size_t dim) {
  __m256i acc = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    __m256i va = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    __m256i vb = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    __m256i d = _mm256_sub_epi16(va, vb);
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(d, d));
  }
  int32_t sum = HorizontalSum256i(acc);
  for (; i < dim; ++i) {
    int32_t d = int32_t(a[i]) - int32_t(b[i]);
    sum += d * d;
  }
  return sum;
}

QUARRY_AVX2 uint32_t HammingPopcnt(const uint8_t* a, const uint8_t* b, size_t bytes) {
  uint64_t sum0 = 0, sum1 = 0;
  size_t i = 0;
  for (; i + 16 <= bytes; i += 16) {
    uint64_t x0, y0, x1, y1;
    std::memcpy(&x0, a + i, 8);
    std::memcpy(&y0, b + i, 8);
    std::memcpy(&x1, a + i + 8, 8);
    std::memcpy(&y1, b + i + 8, 8);
    sum0 += static_cast<uint64_t>(_mm_popcnt_u64(x0 ^ y0));
    sum1 += static_cast<uint64_t>(_mm_popcnt_u64(x1 ^ y1));
  }
  return static_cast<uint32_t>(sum0 + sum1) + HammingScalar(a + i, b + i, bytes - i);
}

// --- AVX-512 -------------------------------------------------------------------

#define QUARRY_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,popcnt")))
#define QUARRY_AVX512VNNI \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vpopcntdq,fma,popcnt")))

QUARRY_AVX512 inline __mmask16 TailMask16(size_t n) {
  return static_cast<__mmask16>((1u << n) - 1u);
}

QUARRY_AVX512 float L2SqF32Avx512(const float* a, const float* b, size_t dim) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    acc0 = _mm512_fmadd_ps(d0, d0, acc0);
    acc1 = _mm512_fmadd_ps(d1, d1, acc1);
  }
  for (; i + 16 <= dim; i += 16) {
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    acc0 = _mm512_fmadd_ps(d, d, acc0);
  }
  if (i < dim) {
    __mmask16 mask = TailMask16(dim - i);
    __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i));
    acc1 = _mm512_fmadd_ps(d, d, acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

QUARRY_AVX512 float DotF32Avx512(const float* a, const float* b, size_t dim) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i + 16 <= dim; i += 16) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  }
  if (i < dim) {
    __mmask16 mask = TailMask16(dim - i);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i),
                           acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

QUARRY_AVX512 int32_t DotI8Avx512(const int8_t* a, const int8_t* b, size_t dim) {
  __m512i acc = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    __m512i va = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i)));
    __m512i vb = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i)));
    acc = _mm512_add_epi32(acc, _mm512_madd_epi16(va, vb));
  }
  int32_t sum = _mm512_reduce_add_epi32(acc);
  for (; i < dim; ++i) sum += int32_t(a[i]) * int32_t(b[i]);
  return sum;
}

QUARRY_AVX512 int32_t L2SqI8Avx512(const int8_t* a, const int8_t* b, size_t dim) {
  __m512i acc = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    __m512i va = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i)));
    __m512i vb = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i)));
    __m512i d = _mm512_sub_epi16(va, vb);
    acc = _mm512_add_epi32(acc, _mm512_madd_epi16(d, d));
  }
  int32_t sum = _mm512_reduce_add_epi32(acc);
  for (; i < dim; ++i) {
    int32_t d = int32_t(a[i]) - int32_t(b[i]);
    sum += d * d;
  }
  return sum;
}

// vpdpbusd multiplies unsigned by signed bytes: (a + 128)·b = a·b + 128·b, so
// the sum of b is subtracted afterwards (computed with the same instruction).
QUARRY_AVX512VNNI int32_t DotI8Vnni(const int8_t* a, const int8_t* b, size_t dim) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i acc = _mm512_setzero_si512();
  __m512i sum_b = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= dim; i += 64) {
    __m512i va = _mm512_xor_si512(_mm512_loadu_si512(a + i), bias);
    __m512i vb = _mm512_loadu_si512(b + i);
    acc = _mm512_dpbusd_epi32(acc, va, vb);
    sum_b = _mm512_dpbusd_epi32(sum_b, ones, vb);
  }
  if (i < dim) {
    __mmask64 mask = (dim - i >= 64) ? ~0ull : ((1ull << (dim - i)) - 1ull);
    // Masked-out lanes: a = 0 -> 0x80 after the bias would add 128·0 = 0, and
    // b = 0 contributes nothing to either sum.
    __m512i va = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, a + i), bias);
    __m512i vb = _mm512_maskz_loadu_epi8(mask, b + i);
    acc = _mm512_dpbusd_epi32(acc, va, vb);
    sum_b = _mm512_dpbusd_epi32(sum_b, ones, vb);
  }
  return _mm512_reduce_add_epi32(acc) - 128 * _mm512_reduce_add_epi32(sum_b);
}

QUARRY_AVX512VNNI uint32_t HammingVpopcnt(const uint8_t* a, const uint8_t* b, size_t bytes) {
  __m512i acc = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= bytes; i += 64) {
    __m512i x = _mm512_xor_si512(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i));
    acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
  }
  if (i < bytes) {
    __mmask64 mask = (1ull << (bytes - i)) - 1ull;
    __m512i x = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, a + i), _mm512_maskz_loadu_epi8(mask, b + i));
    acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
  }
  return static_cast<uint32_t>(_mm512_reduce_add_epi64(acc));
}

#endif  // __x86_64__

const Kernels kScalar{Isa::kScalar, "scalar", L2SqF32Scalar, DotF32Scalar,
                      DotI8Scalar,  L2SqI8Scalar, HammingScalar};
#if defined(__x86_64__)
const Kernels kAvx2{Isa::kAvx2, "avx2", L2SqF32Avx2, DotF32Avx2, DotI8Avx2, L2SqI8Avx2, HammingPopcnt};
const Kernels kAvx512{Isa::kAvx512, "avx512", L2SqF32Avx512, DotF32Avx512,
                      DotI8Avx512,  L2SqI8Avx512, HammingPopcnt};
const Kernels kAvx512Vnni{Isa::kAvx512Vnni, "avx512-vnni", L2SqF32Avx512, DotF32Avx512,
                          DotI8Vnni,         L2SqI8Avx512, HammingVpopcnt};
#endif

bool CpuHas(Isa isa) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("popcnt");
    case Isa::kAvx512:
      return CpuHas(Isa::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq");
    case Isa::kAvx512Vnni:
      return CpuHas(Isa::kAvx512) && __builtin_cpu_supports("avx512vnni") &&
             __builtin_cpu_supports("avx512vpopcntdq");
  }
  return false;
#else
  return isa == Isa::kScalar;
#endif
}

}  // namespace

const Kernels* GetKernelsFor(Isa isa) {
  if (!CpuHas(isa)) return nullptr;
  switch (isa) {
    case Isa::kScalar: return &kScalar;
#if defined(__x86_64__)
    case Isa::kAvx2: return &kAvx2;
    case Isa::kAvx512: return &kAvx512;
    case Isa::kAvx512Vnni: return &kAvx512Vnni;
#else
    default: return nullptr;
#endif
  }
  return nullptr;
}

std::vector<Isa> SupportedIsas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni}) {
    if (GetKernelsFor(isa) != nullptr) isas.push_back(isa);
  }
  return isas;
}

const Kernels& GetKernels() {
  static const Kernels* chosen = [] {
    const Kernels* best = &kScalar;
    const char* cap = std::getenv("QUARRY_ISA");
    for (Isa isa : SupportedIsas()) {
      const Kernels* kernels = GetKernelsFor(isa);
      best = kernels;
      if (cap != nullptr && kernels->name == std::string_view(cap)) break;
    }
    return best;
  }();
  return *chosen;
}

}  // namespace quarry::index::dense
