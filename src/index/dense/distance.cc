// Distance kernels: scalar, AVX2+FMA, AVX-512 (F/BW/VL/DQ) and AVX-512 with
// VNNI + VPOPCNTDQ.
//
// Each SIMD variant is compiled with a function-level target attribute, so the
// library itself needs no -march flag and runs on any x86-64; GetKernels()
// picks the best table once, from __builtin_cpu_supports. On other
// architectures only the scalar table exists.
//
// Tricks worth knowing when reading the SIMD code:
//   * Float kernels keep four independent accumulators (FMA latency is 4
//     cycles); AVX-512 finishes with one masked load instead of a scalar tail.
//   * int8 products go through 16 bits (vpmovsxbw + vpmaddwd), which is exact;
//     vpmaddubsw is avoided because it saturates.
//   * |a - b| of int8s is max(a, b) - min(a, b) read as unsigned bytes; its
//     square then fits vpmaddwd after zero-extension (or vpdpwssd on VNNI).
//   * vpdpbusd multiplies unsigned by signed bytes. dot_i8 feeds it a ^ 0x80 =
//     a + 128 and subtracts 128·Σb, itself one more vpdpbusd (128 × b);
//     measured faster on Zen 4 than Σb by vpsadbw. dot_u8i8 needs no correction: the int8 codec prepares its query as
//     q + 128 and folds 128·Σcode into the code's stored offset.
//   * Integer kernels do the ragged end (masked loads, or a 16-byte block and
//     single bytes on AVX2) before the main loop, so the loop is the last
//     thing in the function: with the tail after it, GCC 12 copied every
//     accumulator on every round (2x slower for the VNNI kernels).
//   * Integer sums wrap in two's complement inside SIMD lanes; the final
//     combination is done in uint32, so the result is exact whenever the true
//     value fits in int32 (see distance.h).
#include "index/dense/distance.h"

#include <cstdlib>
#include <cstring>
#include <string_view>

// QUARRY_DISABLE_X86_KERNELS builds the portable (scalar-only) variant on
// x86 too, so that path is testable here.
#if defined(__x86_64__) && !defined(QUARRY_DISABLE_X86_KERNELS)
#define QUARRY_X86_KERNELS 1
#endif

#if defined(QUARRY_X86_KERNELS)
// GCC 12's 512->256 casts and extracts start from a self-initialised
// "undefined" vector that trips -Wuninitialized inside the header; the
// suppression is scoped to the header's own lines.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

namespace quarry::index::dense {
namespace {

// --- scalar ----------------------------------------------------------------

float L2SqF32Scalar(const float* a, const float* b, size_t dim) {
  float sum = 0.0f;
  for (size_t i = 0; i < dim; ++i) {
    const float d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

float DotF32Scalar(const float* a, const float* b, size_t dim) {
  float sum = 0.0f;
  for (size_t i = 0; i < dim; ++i) sum += a[i] * b[i];
  return sum;
}

// int64 accumulation: no signed overflow (UB) for any dim; the result is
// narrowed modulo 2^32 like the SIMD kernels.
int32_t DotI8Scalar(const int8_t* a, const int8_t* b, size_t dim) {
  int64_t sum = 0;
  for (size_t i = 0; i < dim; ++i) sum += int32_t{a[i]} * int32_t{b[i]};
  return static_cast<int32_t>(static_cast<uint32_t>(sum));
}

int32_t DotU8I8Scalar(const uint8_t* a, const int8_t* b, size_t dim) {
  int64_t sum = 0;
  for (size_t i = 0; i < dim; ++i) sum += int32_t{a[i]} * int32_t{b[i]};
  return static_cast<int32_t>(static_cast<uint32_t>(sum));
}

int32_t L2SqI8Scalar(const int8_t* a, const int8_t* b, size_t dim) {
  int64_t sum = 0;
  for (size_t i = 0; i < dim; ++i) {
    const int32_t d = int32_t{a[i]} - int32_t{b[i]};
    sum += d * d;
  }
  return static_cast<int32_t>(static_cast<uint32_t>(sum));
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

const Kernels kScalar{Isa::kScalar, "scalar", L2SqF32Scalar, DotF32Scalar, DotI8Scalar,
                      L2SqI8Scalar, HammingScalar,   DotU8I8Scalar};

#if defined(QUARRY_X86_KERNELS)

// --- AVX2 + FMA --------------------------------------------------------------

#define QUARRY_TARGET_AVX2 __attribute__((target("avx2,fma,popcnt")))

// 8 ones then 8 zeros: loading at kTailMask + 8 - n gives a mask of n lanes.
alignas(64) constexpr int32_t kTailMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                               0,  0,  0,  0,  0,  0,  0,  0};

QUARRY_TARGET_AVX2 inline float HorizontalSum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

QUARRY_TARGET_AVX2 inline uint32_t HorizontalSum(__m256i v) {
  __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(1, 0, 3, 2)));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1)));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(x));
}

QUARRY_TARGET_AVX2 inline __m128i Load16(const void* p) {
  return _mm_loadu_si128(static_cast<const __m128i*>(p));
}
QUARRY_TARGET_AVX2 inline __m256i Load32(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

QUARRY_TARGET_AVX2 float L2SqF32Avx2(const float* a, const float* b, size_t dim) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    const __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
    const __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    acc2 = _mm256_fmadd_ps(d2, d2, acc2);
    acc3 = _mm256_fmadd_ps(d3, d3, acc3);
  }
  for (; i + 8 <= dim; i += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    acc0 = _mm256_fmadd_ps(d, d, acc0);
  }
  if (i < dim) {  // vmaskmovps never touches (or faults on) masked-out lanes
    const __m256i mask = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(kTailMask + 8 - (dim - i)));
    const __m256 d = _mm256_sub_ps(_mm256_maskload_ps(a + i, mask), _mm256_maskload_ps(b + i, mask));
    acc1 = _mm256_fmadd_ps(d, d, acc1);
  }
  return HorizontalSum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

QUARRY_TARGET_AVX2 float DotF32Avx2(const float* a, const float* b, size_t dim) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= dim; i += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  }
  if (i < dim) {
    const __m256i mask = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(kTailMask + 8 - (dim - i)));
    acc1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, mask), _mm256_maskload_ps(b + i, mask), acc1);
  }
  return HorizontalSum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

QUARRY_TARGET_AVX2 int32_t DotI8Avx2(const int8_t* a, const int8_t* b, size_t dim) {
  const size_t main = dim - dim % 32;
  uint32_t sum = 0;
  size_t i = main;
  __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0;
  if (i + 16 <= dim) {
    acc1 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(Load16(a + i)), _mm256_cvtepi8_epi16(Load16(b + i)));
    i += 16;
  }
  for (; i < dim; ++i) sum += static_cast<uint32_t>(int32_t{a[i]} * int32_t{b[i]});
  for (i = 0; i < main; i += 32) {
    const __m256i a0 = _mm256_cvtepi8_epi16(Load16(a + i));
    const __m256i b0 = _mm256_cvtepi8_epi16(Load16(b + i));
    const __m256i a1 = _mm256_cvtepi8_epi16(Load16(a + i + 16));
    const __m256i b1 = _mm256_cvtepi8_epi16(Load16(b + i + 16));
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, b0));
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(a1, b1));
  }
  return static_cast<int32_t>(sum + HorizontalSum(_mm256_add_epi32(acc0, acc1)));
}

QUARRY_TARGET_AVX2 int32_t DotU8I8Avx2(const uint8_t* a, const int8_t* b, size_t dim) {
  const size_t main = dim - dim % 32;
  uint32_t sum = 0;
  size_t i = main;
  __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0;
  if (i + 16 <= dim) {
    acc1 = _mm256_madd_epi16(_mm256_cvtepu8_epi16(Load16(a + i)), _mm256_cvtepi8_epi16(Load16(b + i)));
    i += 16;
  }
  for (; i < dim; ++i) sum += static_cast<uint32_t>(int32_t{a[i]} * int32_t{b[i]});
  for (i = 0; i < main; i += 32) {
    const __m256i a0 = _mm256_cvtepu8_epi16(Load16(a + i));
    const __m256i b0 = _mm256_cvtepi8_epi16(Load16(b + i));
    const __m256i a1 = _mm256_cvtepu8_epi16(Load16(a + i + 16));
    const __m256i b1 = _mm256_cvtepi8_epi16(Load16(b + i + 16));
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, b0));
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(a1, b1));
  }
  return static_cast<int32_t>(sum + HorizontalSum(_mm256_add_epi32(acc0, acc1)));
}

QUARRY_TARGET_AVX2 int32_t L2SqI8Avx2(const int8_t* a, const int8_t* b, size_t dim) {
  const __m256i zero = _mm256_setzero_si256();
  const size_t main = dim - dim % 32;
  uint32_t sum = 0;
  size_t i = main;
  __m256i acc0 = zero, acc1 = zero;
  if (i + 16 <= dim) {
    const __m256i d = _mm256_sub_epi16(_mm256_cvtepi8_epi16(Load16(a + i)),
                                       _mm256_cvtepi8_epi16(Load16(b + i)));
    acc1 = _mm256_madd_epi16(d, d);
    i += 16;
  }
  for (; i < dim; ++i) {
    const int32_t d = int32_t{a[i]} - int32_t{b[i]};
    sum += static_cast<uint32_t>(d * d);
  }
  for (i = 0; i < main; i += 32) {
    const __m256i va = Load32(a + i);
    const __m256i vb = Load32(b + i);
    // |a - b| in [0, 255] as unsigned bytes, then zero-extended to 16 bits.
    const __m256i diff = _mm256_sub_epi8(_mm256_max_epi8(va, vb), _mm256_min_epi8(va, vb));
    const __m256i lo = _mm256_unpacklo_epi8(diff, zero);
    const __m256i hi = _mm256_unpackhi_epi8(diff, zero);
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(lo, lo));
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(hi, hi));
  }
  return static_cast<int32_t>(sum + HorizontalSum(_mm256_add_epi32(acc0, acc1)));
}

QUARRY_TARGET_AVX2 uint32_t HammingPopcnt(const uint8_t* a, const uint8_t* b, size_t bytes) {
  uint64_t sum0 = 0, sum1 = 0, sum2 = 0, sum3 = 0;
  size_t i = 0;
  for (; i + 32 <= bytes; i += 32) {
    uint64_t x[4], y[4];
    std::memcpy(x, a + i, 32);
    std::memcpy(y, b + i, 32);
    sum0 += static_cast<uint64_t>(_mm_popcnt_u64(x[0] ^ y[0]));
    sum1 += static_cast<uint64_t>(_mm_popcnt_u64(x[1] ^ y[1]));
    sum2 += static_cast<uint64_t>(_mm_popcnt_u64(x[2] ^ y[2]));
    sum3 += static_cast<uint64_t>(_mm_popcnt_u64(x[3] ^ y[3]));
  }
  for (; i + 8 <= bytes; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    sum0 += static_cast<uint64_t>(_mm_popcnt_u64(x ^ y));
  }
  for (; i < bytes; ++i) sum1 += static_cast<uint64_t>(_mm_popcnt_u32(uint32_t{a[i]} ^ b[i]));
  return static_cast<uint32_t>(sum0 + sum1 + sum2 + sum3);
}

// --- AVX-512 -----------------------------------------------------------------

#define QUARRY_TARGET_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,popcnt")))
#define QUARRY_TARGET_AVX512_VNNI                                                    \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vpopcntdq," \
                        "avx2,fma,popcnt")))

QUARRY_TARGET_AVX512 inline __m256 High256(__m512 v) { return _mm512_extractf32x8_ps(v, 1); }
QUARRY_TARGET_AVX512 inline __m256i High256(__m512i v) {
  return _mm512_extracti64x4_epi64(v, 1);
}
QUARRY_TARGET_AVX512 inline float ReduceAdd(__m512 v) {
  return HorizontalSum(_mm256_add_ps(_mm512_castps512_ps256(v), High256(v)));
}
QUARRY_TARGET_AVX512 inline uint32_t ReduceAdd(__m512i v) {
  return HorizontalSum(_mm256_add_epi32(_mm512_castsi512_si256(v), High256(v)));
}
QUARRY_TARGET_AVX512 inline uint64_t ReduceAdd64(__m512i v) {
  __m256i x = _mm256_add_epi64(_mm512_castsi512_si256(v), High256(v));
  __m128i y = _mm_add_epi64(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1));
  y = _mm_add_epi64(y, _mm_unpackhi_epi64(y, y));
  return static_cast<uint64_t>(_mm_cvtsi128_si64(y));
}
QUARRY_TARGET_AVX512 inline __m512i Load64(const void* p) { return _mm512_loadu_si512(p); }

// Low n bits set, n < 16 / 32 / 64.
inline __mmask16 Mask16(size_t n) { return static_cast<__mmask16>((1u << n) - 1u); }
inline __mmask32 Mask32(size_t n) { return static_cast<__mmask32>((uint64_t{1} << n) - 1u); }
inline __mmask64 Mask64(size_t n) { return static_cast<__mmask64>((uint64_t{1} << n) - 1u); }

QUARRY_TARGET_AVX512 float L2SqF32Avx512(const float* a, const float* b, size_t dim) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= dim; i += 64) {
    const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    const __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    const __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
    const __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
    acc0 = _mm512_fmadd_ps(d0, d0, acc0);
    acc1 = _mm512_fmadd_ps(d1, d1, acc1);
    acc2 = _mm512_fmadd_ps(d2, d2, acc2);
    acc3 = _mm512_fmadd_ps(d3, d3, acc3);
  }
  for (; i + 16 <= dim; i += 16) {
    const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    acc0 = _mm512_fmadd_ps(d, d, acc0);
  }
  if (i < dim) {
    const __mmask16 mask = Mask16(dim - i);
    const __m512 d =
        _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i));
    acc1 = _mm512_fmadd_ps(d, d, acc1);
  }
  return ReduceAdd(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

QUARRY_TARGET_AVX512 float DotF32Avx512(const float* a, const float* b, size_t dim) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= dim; i += 64) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
    acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), acc2);
    acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), acc3);
  }
  for (; i + 16 <= dim; i += 16) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  }
  if (i < dim) {
    const __mmask16 mask = Mask16(dim - i);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i),
                           acc1);
  }
  return ReduceAdd(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

QUARRY_TARGET_AVX512 int32_t DotI8Avx512(const int8_t* a, const int8_t* b, size_t dim) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0;
  const size_t ragged = dim % 64;
  const size_t main = dim - ragged;
  if (ragged != 0) {  // masked-out bytes read as 0
    const __mmask32 lo = ragged >= 32 ? ~__mmask32{0} : Mask32(ragged);
    const __mmask32 hi = ragged > 32 ? Mask32(ragged - 32) : 0;
    acc0 = _mm512_madd_epi16(_mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(lo, a + main)),
                             _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(lo, b + main)));
    acc1 = _mm512_madd_epi16(_mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(hi, a + main + 32)),
                             _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(hi, b + main + 32)));
  }
  for (size_t i = 0; i < main; i += 64) {
    const __m512i a0 = _mm512_cvtepi8_epi16(Load32(a + i));
    const __m512i b0 = _mm512_cvtepi8_epi16(Load32(b + i));
    const __m512i a1 = _mm512_cvtepi8_epi16(Load32(a + i + 32));
    const __m512i b1 = _mm512_cvtepi8_epi16(Load32(b + i + 32));
    acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(a0, b0));
    acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(a1, b1));
  }
  return static_cast<int32_t>(ReduceAdd(_mm512_add_epi32(acc0, acc1)));
}

QUARRY_TARGET_AVX512 int32_t DotU8I8Avx512(const uint8_t* a, const int8_t* b, size_t dim) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0;
  const size_t ragged = dim % 64;
  const size_t main = dim - ragged;
  if (ragged != 0) {
    const __mmask32 lo = ragged >= 32 ? ~__mmask32{0} : Mask32(ragged);
    const __mmask32 hi = ragged > 32 ? Mask32(ragged - 32) : 0;
    acc0 = _mm512_madd_epi16(_mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(lo, a + main)),
                             _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(lo, b + main)));
    acc1 = _mm512_madd_epi16(_mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(hi, a + main + 32)),
                             _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(hi, b + main + 32)));
  }
  for (size_t i = 0; i < main; i += 64) {
    const __m512i a0 = _mm512_cvtepu8_epi16(Load32(a + i));
    const __m512i b0 = _mm512_cvtepi8_epi16(Load32(b + i));
    const __m512i a1 = _mm512_cvtepu8_epi16(Load32(a + i + 32));
    const __m512i b1 = _mm512_cvtepi8_epi16(Load32(b + i + 32));
    acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(a0, b0));
    acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(a1, b1));
  }
  return static_cast<int32_t>(ReduceAdd(_mm512_add_epi32(acc0, acc1)));
}

// |a - b| as unsigned bytes (see the file comment).
QUARRY_TARGET_AVX512 inline __m512i AbsDiffI8(__m512i a, __m512i b) {
  return _mm512_sub_epi8(_mm512_max_epi8(a, b), _mm512_min_epi8(a, b));
}

QUARRY_TARGET_AVX512 int32_t L2SqI8Avx512(const int8_t* a, const int8_t* b, size_t dim) {
  const __m512i zero = _mm512_setzero_si512();
  __m512i acc0 = zero, acc1 = zero;
  const size_t ragged = dim % 64;
  const size_t main = dim - ragged;
  if (ragged != 0) {  // masked-out bytes are 0 on both sides: |0 - 0| = 0
    const __mmask64 mask = Mask64(ragged);
    const __m512i diff = AbsDiffI8(_mm512_maskz_loadu_epi8(mask, a + main),
                                   _mm512_maskz_loadu_epi8(mask, b + main));
    const __m512i lo = _mm512_unpacklo_epi8(diff, zero);
    const __m512i hi = _mm512_unpackhi_epi8(diff, zero);
    acc0 = _mm512_madd_epi16(lo, lo);
    acc1 = _mm512_madd_epi16(hi, hi);
  }
  for (size_t i = 0; i < main; i += 64) {
    const __m512i diff = AbsDiffI8(Load64(a + i), Load64(b + i));
    const __m512i lo = _mm512_unpacklo_epi8(diff, zero);
    const __m512i hi = _mm512_unpackhi_epi8(diff, zero);
    acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(lo, lo));
    acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(hi, hi));
  }
  return static_cast<int32_t>(ReduceAdd(_mm512_add_epi32(acc0, acc1)));
}

// --- AVX-512 VNNI + VPOPCNTDQ ------------------------------------------------

// vpdpbusd's latency (4-5 cycles) exceeds its issue interval, so the dot
// kernels keep four accumulators: the ragged part (the masked tail and up to
// three whole 64-byte blocks) goes one block per accumulator, then the main
// loop takes 256 bytes a round.

// a·b = Σ (a + 128)·b - 128·Σb, both sums by vpdpbusd (masked-out lanes have
// b = 0 and add nothing to either).
QUARRY_TARGET_AVX512_VNNI int32_t DotI8Vnni(const int8_t* a, const int8_t* b, size_t dim) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  __m512i cor0 = acc0, cor1 = acc0, cor2 = acc0, cor3 = acc0;
  const size_t ragged = dim % 256;
  const size_t whole = ragged / 64;  // whole blocks in the ragged part
  size_t i = dim - ragged;           // the ragged part sits at the end
  if (ragged % 64 != 0) {
    const __mmask64 mask = Mask64(ragged % 64);
    const size_t at = i + whole * 64;
    const __m512i vb = _mm512_maskz_loadu_epi8(mask, b + at);
    acc3 = _mm512_dpbusd_epi32(acc3, _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, a + at), bias), vb);
    cor3 = _mm512_dpbusd_epi32(cor3, bias, vb);
  }
  if (whole >= 1) {
    const __m512i vb = Load64(b + i);
    acc0 = _mm512_dpbusd_epi32(acc0, _mm512_xor_si512(Load64(a + i), bias), vb);
    cor0 = _mm512_dpbusd_epi32(cor0, bias, vb);
  }
  if (whole >= 2) {
    const __m512i vb = Load64(b + i + 64);
    acc1 = _mm512_dpbusd_epi32(acc1, _mm512_xor_si512(Load64(a + i + 64), bias), vb);
    cor1 = _mm512_dpbusd_epi32(cor1, bias, vb);
  }
  if (whole >= 3) {
    const __m512i vb = Load64(b + i + 128);
    acc2 = _mm512_dpbusd_epi32(acc2, _mm512_xor_si512(Load64(a + i + 128), bias), vb);
    cor2 = _mm512_dpbusd_epi32(cor2, bias, vb);
  }
  for (i = 0; i + 256 <= dim; i += 256) {
    const __m512i b0 = Load64(b + i), b1 = Load64(b + i + 64);
    const __m512i b2 = Load64(b + i + 128), b3 = Load64(b + i + 192);
    acc0 = _mm512_dpbusd_epi32(acc0, _mm512_xor_si512(Load64(a + i), bias), b0);
    acc1 = _mm512_dpbusd_epi32(acc1, _mm512_xor_si512(Load64(a + i + 64), bias), b1);
    acc2 = _mm512_dpbusd_epi32(acc2, _mm512_xor_si512(Load64(a + i + 128), bias), b2);
    acc3 = _mm512_dpbusd_epi32(acc3, _mm512_xor_si512(Load64(a + i + 192), bias), b3);
    cor0 = _mm512_dpbusd_epi32(cor0, bias, b0);
    cor1 = _mm512_dpbusd_epi32(cor1, bias, b1);
    cor2 = _mm512_dpbusd_epi32(cor2, bias, b2);
    cor3 = _mm512_dpbusd_epi32(cor3, bias, b3);
  }
  const __m512i acc = _mm512_add_epi32(_mm512_add_epi32(acc0, acc1), _mm512_add_epi32(acc2, acc3));
  const __m512i cor = _mm512_add_epi32(_mm512_add_epi32(cor0, cor1), _mm512_add_epi32(cor2, cor3));
  return static_cast<int32_t>(ReduceAdd(_mm512_sub_epi32(acc, cor)));
}

QUARRY_TARGET_AVX512_VNNI int32_t DotU8I8Vnni(const uint8_t* a, const int8_t* b, size_t dim) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  const size_t ragged = dim % 256;
  const size_t whole = ragged / 64;
  const size_t i = dim - ragged;
  if (ragged % 64 != 0) {
    const __mmask64 mask = Mask64(ragged % 64);
    const size_t at = i + whole * 64;
    acc3 = _mm512_dpbusd_epi32(acc3, _mm512_maskz_loadu_epi8(mask, a + at),
                               _mm512_maskz_loadu_epi8(mask, b + at));
  }
  if (whole >= 1) acc0 = _mm512_dpbusd_epi32(acc0, Load64(a + i), Load64(b + i));
  if (whole >= 2) acc1 = _mm512_dpbusd_epi32(acc1, Load64(a + i + 64), Load64(b + i + 64));
  if (whole >= 3) acc2 = _mm512_dpbusd_epi32(acc2, Load64(a + i + 128), Load64(b + i + 128));
  for (size_t j = 0; j + 256 <= dim; j += 256) {
    acc0 = _mm512_dpbusd_epi32(acc0, Load64(a + j), Load64(b + j));
    acc1 = _mm512_dpbusd_epi32(acc1, Load64(a + j + 64), Load64(b + j + 64));
    acc2 = _mm512_dpbusd_epi32(acc2, Load64(a + j + 128), Load64(b + j + 128));
    acc3 = _mm512_dpbusd_epi32(acc3, Load64(a + j + 192), Load64(b + j + 192));
  }
  return static_cast<int32_t>(ReduceAdd(
      _mm512_add_epi32(_mm512_add_epi32(acc0, acc1), _mm512_add_epi32(acc2, acc3))));
}

QUARRY_TARGET_AVX512_VNNI int32_t L2SqI8Vnni(const int8_t* a, const int8_t* b, size_t dim) {
  const __m512i zero = _mm512_setzero_si512();
  __m512i acc0 = zero, acc1 = zero, acc2 = zero, acc3 = zero;
  const size_t ragged = dim % 128;
  const size_t main = dim - ragged;
  if (ragged != 0) {  // up to two blocks, the second (or only) one masked
    const __mmask64 first = ragged >= 64 ? ~__mmask64{0} : Mask64(ragged);
    const __mmask64 second = ragged > 64 ? Mask64(ragged - 64) : 0;
    const __m512i d0 = AbsDiffI8(_mm512_maskz_loadu_epi8(first, a + main),
                                 _mm512_maskz_loadu_epi8(first, b + main));
    const __m512i d1 = AbsDiffI8(_mm512_maskz_loadu_epi8(second, a + main + 64),
                                 _mm512_maskz_loadu_epi8(second, b + main + 64));
    const __m512i lo0 = _mm512_unpacklo_epi8(d0, zero), hi0 = _mm512_unpackhi_epi8(d0, zero);
    const __m512i lo1 = _mm512_unpacklo_epi8(d1, zero), hi1 = _mm512_unpackhi_epi8(d1, zero);
    acc0 = _mm512_madd_epi16(lo0, lo0);
    acc1 = _mm512_madd_epi16(hi0, hi0);
    acc2 = _mm512_madd_epi16(lo1, lo1);
    acc3 = _mm512_madd_epi16(hi1, hi1);
  }
  for (size_t i = 0; i < main; i += 128) {
    const __m512i d0 = AbsDiffI8(Load64(a + i), Load64(b + i));
    const __m512i d1 = AbsDiffI8(Load64(a + i + 64), Load64(b + i + 64));
    const __m512i lo0 = _mm512_unpacklo_epi8(d0, zero), hi0 = _mm512_unpackhi_epi8(d0, zero);
    const __m512i lo1 = _mm512_unpacklo_epi8(d1, zero), hi1 = _mm512_unpackhi_epi8(d1, zero);
    acc0 = _mm512_dpwssd_epi32(acc0, lo0, lo0);
    acc1 = _mm512_dpwssd_epi32(acc1, hi0, hi0);
    acc2 = _mm512_dpwssd_epi32(acc2, lo1, lo1);
    acc3 = _mm512_dpwssd_epi32(acc3, hi1, hi1);
  }
  return static_cast<int32_t>(ReduceAdd(
      _mm512_add_epi32(_mm512_add_epi32(acc0, acc1), _mm512_add_epi32(acc2, acc3))));
}

QUARRY_TARGET_AVX512_VNNI uint32_t HammingVpopcnt(const uint8_t* a, const uint8_t* b, size_t bytes) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0;
  const size_t ragged = bytes % 64;
  const size_t main = bytes - ragged;
  if (ragged != 0) {
    const __mmask64 mask = Mask64(ragged);
    acc1 = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, a + main),
                                                _mm512_maskz_loadu_epi8(mask, b + main)));
  }
  size_t i = 0;
  for (; i + 128 <= main; i += 128) {
    acc0 = _mm512_add_epi64(acc0, _mm512_popcnt_epi64(_mm512_xor_si512(Load64(a + i), Load64(b + i))));
    acc1 = _mm512_add_epi64(
        acc1, _mm512_popcnt_epi64(_mm512_xor_si512(Load64(a + i + 64), Load64(b + i + 64))));
  }
  if (i < main) {
    acc0 = _mm512_add_epi64(acc0, _mm512_popcnt_epi64(_mm512_xor_si512(Load64(a + i), Load64(b + i))));
  }
  return static_cast<uint32_t>(ReduceAdd64(_mm512_add_epi64(acc0, acc1)));
}

const Kernels kAvx2{Isa::kAvx2, "avx2", L2SqF32Avx2, DotF32Avx2, DotI8Avx2,
                    L2SqI8Avx2, HammingPopcnt, DotU8I8Avx2};
const Kernels kAvx512{Isa::kAvx512, "avx512", L2SqF32Avx512, DotF32Avx512, DotI8Avx512,
                      L2SqI8Avx512, HammingPopcnt, DotU8I8Avx512};
const Kernels kAvx512Vnni{Isa::kAvx512Vnni, "avx512-vnni", L2SqF32Avx512, DotF32Avx512, DotI8Vnni,
                          L2SqI8Vnni, HammingVpopcnt, DotU8I8Vnni};

#endif  // QUARRY_X86_KERNELS

bool CpuHas(Isa isa) {
#if defined(QUARRY_X86_KERNELS)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("popcnt");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512dq");
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return avx2;
    case Isa::kAvx512: return avx512;
    case Isa::kAvx512Vnni:
      return avx512 && __builtin_cpu_supports("avx512vnni") &&
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
#if defined(QUARRY_X86_KERNELS)
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
    if (CpuHas(isa)) isas.push_back(isa);
  }
  return isas;
}

// The best supported table; QUARRY_ISA names a cap (an unknown name, or one
// above what the CPU has, means no cap).
const Kernels& GetKernels() {
  static const Kernels* const chosen = [] {
    const char* cap = std::getenv("QUARRY_ISA");
    const Kernels* best = &kScalar;
    for (Isa isa : SupportedIsas()) {
      best = GetKernelsFor(isa);
      if (cap != nullptr && best->name == std::string_view(cap)) break;
    }
    return best;
  }();
  return *chosen;
}

}  // namespace quarry::index::dense
