#include "model/kernels.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <vector>

#define QUARRY_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

namespace quarry::model::kernels {

// Round to nearest (ties to even) for |x| < 2^22 by the 1.5 * 2^23 trick:
// unlike std::floor / nearbyint, GCC vectorizes it without -ffast-math.
inline float RoundNearest(float x) {
  constexpr float kMagic = 12582912.0f;
  return (x + kMagic) - kMagic;
}

// Cody-Waite range reduction and a degree-6 polynomial for exp on |r| <= ln2/2.
inline float ExpInline(float x) {
  x = std::min(88.0f, std::max(-87.0f, x));
  const float n = RoundNearest(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  // exp(r) on |r| <= ln2/2
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

// Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7).
inline float ErfInline(float x) {
  const float ax = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float y = 1.061405429f;
  y = y * t - 1.453152027f;
  y = y * t + 1.421413741f;
  y = y * t - 0.284496736f;
  y = y * t + 0.254829592f;
  y = 1.0f - y * t * ExpInline(-ax * ax);
  return std::copysign(y, x);
}

float Exp(float x) { return ExpInline(x); }
float Erf(float x) { return ErfInline(x); }

QUARRY_CLONES
void LayerNorm(float* x, size_t rows, size_t cols, const float* gamma, const float* beta,
               float eps) {
  for (size_t r = 0; r < rows; ++r) {
    float* row = x + r * cols;
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (size_t c = 0; c < cols; ++c) sum += row[c];
    const float mean = sum / static_cast<float>(cols);
    float sq = 0;
#pragma omp simd reduction(+ : sq)
    for (size_t c = 0; c < cols; ++c) {
      const float d = row[c] - mean;
      sq += d * d;
    }
    const float inv = 1.0f / std::sqrt(sq / static_cast<float>(cols) + eps);
#pragma omp simd
    for (size_t c = 0; c < cols; ++c) row[c] = (row[c] - mean) * inv * gamma[c] + beta[c];
  }
}

QUARRY_CLONES
void GeluErf(float* x, size_t n) {
#pragma omp simd
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + ErfInline(v * 0.70710678118654752f));
  }
}

QUARRY_CLONES
void GeluTanh(float* x, size_t n) {
#pragma omp simd
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float u = 0.79788456080286536f * (v + 0.044715f * v * v * v);
    // tanh(u) = 1 - 2 / (exp(2u) + 1)
    const float t = 1.0f - 2.0f / (ExpInline(2.0f * u) + 1.0f);
    x[i] = 0.5f * v * (1.0f + t);
  }
}

QUARRY_CLONES
void Relu(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = std::max(0.0f, x[i]);
}

namespace {

// One head of one sequence: kt is scratch of head_dim * len floats, scores of len.
QUARRY_CLONES
void AttendHead(const float* qkv, size_t ld_qkv, int len, int head_dim, int q_col, int k_col,
                int v_col, int n_queries, float scale, float* kt, float* scores, float* ctx,
                size_t ld_ctx, bool first_row_only) {
  // K^T so that the scores of one query are a row-vector FMA sweep over len.
  for (int j = 0; j < len; ++j) {
    const float* k = qkv + static_cast<size_t>(j) * ld_qkv + k_col;
    for (int d = 0; d < head_dim; ++d) kt[static_cast<size_t>(d) * len + j] = k[d];
  }
  for (int i = 0; i < n_queries; ++i) {
    const float* q = qkv + static_cast<size_t>(i) * ld_qkv + q_col;
    for (int j = 0; j < len; ++j) scores[j] = 0.0f;
    for (int d = 0; d < head_dim; ++d) {
      const float qd = q[d] * scale;
      const float* ktd = kt + static_cast<size_t>(d) * len;
      for (int j = 0; j < len; ++j) scores[j] += qd * ktd[j];
    }
    float mx = scores[0];
#pragma omp simd reduction(max : mx)
    for (int j = 1; j < len; ++j) mx = std::max(mx, scores[j]);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < len; ++j) {
      const float e = ExpInline(scores[j] - mx);
      scores[j] = e;
      sum += e;
    }
    const float inv = 1.0f / sum;
    float* out = ctx + (first_row_only ? 0 : static_cast<size_t>(i) * ld_ctx);
    for (int d = 0; d < head_dim; ++d) out[d] = 0.0f;
    for (int j = 0; j < len; ++j) {
      const float p = scores[j] * inv;
      const float* v = qkv + static_cast<size_t>(j) * ld_qkv + v_col;
      for (int d = 0; d < head_dim; ++d) out[d] += p * v[d];
    }
  }
}


// AVX-512 attention for one head, four queries at a time so that each key and
// value vector loaded is used four times. REQUIRES: head_dim % 16 == 0,
// head_dim <= 64; kt has head_dim rows of `lp` (len rounded up to 16) floats.
#define QUARRY_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))

QUARRY_AVX512 inline __m512 Exp512(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(88.0f), _mm512_max_ps(_mm512_set1_ps(-87.0f), x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

// In-place softmax of s[0, len) (f32), zeroing s[len, lp); lp % 16 == 0.
QUARRY_AVX512 inline void Softmax512(float* s, int len, int lp) {
  const __mmask16 tail = static_cast<__mmask16>(len % 16 == 0 ? 0xffff : (1u << (len % 16)) - 1);
  auto mask = [&](int j) -> __mmask16 { return j + 16 <= len ? 0xffff : (j < len ? tail : 0); };
  __m512 mx = _mm512_set1_ps(-3.0e38f);
  for (int j = 0; j < lp; j += 16) mx = _mm512_mask_max_ps(mx, mask(j), mx, _mm512_loadu_ps(s + j));
  const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  __m512 sum = _mm512_setzero_ps();
  for (int j = 0; j < lp; j += 16) {
    const __m512 e =
        _mm512_maskz_mov_ps(mask(j), Exp512(_mm512_sub_ps(_mm512_loadu_ps(s + j), vmax)));
    _mm512_storeu_ps(s + j, e);
    sum = _mm512_add_ps(sum, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
  for (int j = 0; j < lp; j += 16) _mm512_storeu_ps(s + j, _mm512_mul_ps(_mm512_loadu_ps(s + j), inv));
}

QUARRY_AVX512
void AttendHeadAvx512(const float* qkv, size_t ld_qkv, int len, int head_dim, int q_col,
                      int k_col, int v_col, int n_queries, float scale, float* kt, float* scores,
                      float* ctx, size_t ld_ctx, bool first_row_only) {
  const int lp = (len + 15) & ~15;
  for (int j = 0; j < lp; ++j) {
    if (j < len) {
      const float* k = qkv + static_cast<size_t>(j) * ld_qkv + k_col;
      for (int d = 0; d < head_dim; ++d) kt[static_cast<size_t>(d) * lp + j] = k[d];
    } else {
      for (int d = 0; d < head_dim; ++d) kt[static_cast<size_t>(d) * lp + j] = 0.0f;
    }
  }
  const int chunks = head_dim / 16;
  alignas(64) float qs[4][64];
  for (int i0 = 0; i0 < n_queries; i0 += 4) {
    const int nb = std::min(4, n_queries - i0);
    for (int b = 0; b < 4; ++b) {
      const float* q = qkv + static_cast<size_t>(i0 + std::min(b, nb - 1)) * ld_qkv + q_col;
      for (int d = 0; d < head_dim; ++d) qs[b][d] = q[d] * scale;
    }
    float* sc[4] = {scores, scores + lp, scores + 2 * lp, scores + 3 * lp};
    for (int j = 0; j < lp; j += 16) {
      __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int d = 0; d < head_dim; ++d) {
        const __m512 k = _mm512_loadu_ps(kt + static_cast<size_t>(d) * lp + j);
        a0 = _mm512_fmadd_ps(_mm512_set1_ps(qs[0][d]), k, a0);
        a1 = _mm512_fmadd_ps(_mm512_set1_ps(qs[1][d]), k, a1);
        a2 = _mm512_fmadd_ps(_mm512_set1_ps(qs[2][d]), k, a2);
        a3 = _mm512_fmadd_ps(_mm512_set1_ps(qs[3][d]), k, a3);
      }
      _mm512_storeu_ps(sc[0] + j, a0);
      _mm512_storeu_ps(sc[1] + j, a1);
      _mm512_storeu_ps(sc[2] + j, a2);
      _mm512_storeu_ps(sc[3] + j, a3);
    }
    for (int b = 0; b < nb; ++b) {
      float* s = sc[b];
      Softmax512(s, len, lp);
    }
    // ctx rows = P V, four queries by up to four 16-float chunks.
    __m512 acc[4][4];
    for (int b = 0; b < 4; ++b)
      for (int c = 0; c < 4; ++c) acc[b][c] = _mm512_setzero_ps();
    for (int j = 0; j < len; ++j) {
      const float* v = qkv + static_cast<size_t>(j) * ld_qkv + v_col;
      const __m512 p0 = _mm512_set1_ps(sc[0][j]), p1 = _mm512_set1_ps(sc[1][j]);
      const __m512 p2 = _mm512_set1_ps(sc[2][j]), p3 = _mm512_set1_ps(sc[3][j]);
      for (int c = 0; c < chunks; ++c) {
        const __m512 vv = _mm512_loadu_ps(v + 16 * c);
        acc[0][c] = _mm512_fmadd_ps(p0, vv, acc[0][c]);
        acc[1][c] = _mm512_fmadd_ps(p1, vv, acc[1][c]);
        acc[2][c] = _mm512_fmadd_ps(p2, vv, acc[2][c]);
        acc[3][c] = _mm512_fmadd_ps(p3, vv, acc[3][c]);
      }
    }
    for (int b = 0; b < nb; ++b) {
      float* out = ctx + (first_row_only ? 0 : static_cast<size_t>(i0 + b) * ld_ctx);
      for (int c = 0; c < chunks; ++c) _mm512_storeu_ps(out + 16 * c, acc[b][c]);
    }
  }
}


// The same with bf16 dot products (AVX512_BF16 vdpbf16ps: two products per
// lane per instruction): q, k, v and the probabilities are rounded to bf16,
// scores and sums stay in f32. Used by the int8 and bf16 precisions.
// kt2: head_dim/2 rows of lp uint32 (bf16 pairs k[2p], k[2p+1] of key j at
// [p][j]); vt2: lp/2 rows of head_dim uint32 (pairs v_j[d], v_j+1[d]); pp: 4
// rows of lp/2 uint32 (pairs of probabilities).
#define QUARRY_AVX512BF16 \
  __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx512bf16,fma")))

QUARRY_AVX512BF16 inline __m512i PackBf16(const float* x) {  // 32 floats -> 32 bf16
  return reinterpret_cast<__m512i>(
      _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + 16), _mm512_loadu_ps(x)));
}

QUARRY_AVX512BF16
void AttendHeadBf16(const float* qkv, size_t ld_qkv, int len, int head_dim, int q_col, int k_col,
                    int v_col, int n_queries, float scale, uint32_t* kt2, uint32_t* vt2,
                    float* scores, uint32_t* pp, float* ctx, size_t ld_ctx, bool first_row_only) {
  const int lp = (len + 31) & ~31;  // pairs of 16-key chunks
  const int hp = head_dim / 2;
  alignas(64) uint32_t row[32];
  for (int j = 0; j < lp; ++j) {
    if (j < len) {
      const float* k = qkv + static_cast<size_t>(j) * ld_qkv + k_col;
      for (int d = 0; d < head_dim; d += 32) {
        _mm512_store_si512(row, PackBf16(k + d));
        for (int p = 0; p < 16 && d / 2 + p < hp; ++p) kt2[static_cast<size_t>(d / 2 + p) * lp + j] = row[p];
      }
    } else {
      for (int p = 0; p < hp; ++p) kt2[static_cast<size_t>(p) * lp + j] = 0;
    }
  }
  // V pairs: out[2d] = v_j[d], out[2d+1] = v_j+1[d].
  const __m512i lo_idx = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9,
                                          40, 8, 39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1,
                                          32, 0);
  const __m512i hi_idx = _mm512_add_epi16(lo_idx, _mm512_set1_epi16(16));
  for (int j = 0; j < lp; j += 2) {
    for (int d = 0; d < head_dim; d += 32) {
      __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
      if (j < len) a = PackBf16(qkv + static_cast<size_t>(j) * ld_qkv + v_col + d);
      if (j + 1 < len) b = PackBf16(qkv + static_cast<size_t>(j + 1) * ld_qkv + v_col + d);
      uint32_t* dst = vt2 + static_cast<size_t>(j / 2) * head_dim + d;
      _mm512_storeu_si512(dst, _mm512_permutex2var_epi16(a, lo_idx, b));
      _mm512_storeu_si512(dst + 16, _mm512_permutex2var_epi16(a, hi_idx, b));
    }
  }
  const int chunks = head_dim / 16;
  alignas(64) uint32_t qs[4][32];
  alignas(64) float qf[64];
  for (int i0 = 0; i0 < n_queries; i0 += 4) {
    const int nb = std::min(4, n_queries - i0);
    for (int b = 0; b < 4; ++b) {
      const float* q = qkv + static_cast<size_t>(i0 + std::min(b, nb - 1)) * ld_qkv + q_col;
      for (int d = 0; d < head_dim; ++d) qf[d] = q[d] * scale;
      for (int d = 0; d < head_dim; d += 32) _mm512_store_si512(&qs[b][d / 2], PackBf16(qf + d));
    }
    float* sc[4] = {scores, scores + lp, scores + 2 * lp, scores + 3 * lp};
    for (int j = 0; j < lp; j += 16) {
      __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int p = 0; p < hp; ++p) {
        const __m512bh k = reinterpret_cast<__m512bh>(_mm512_loadu_si512(kt2 + static_cast<size_t>(p) * lp + j));
        a0 = _mm512_dpbf16_ps(a0, reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(qs[0][p]))), k);
        a1 = _mm512_dpbf16_ps(a1, reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(qs[1][p]))), k);
        a2 = _mm512_dpbf16_ps(a2, reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(qs[2][p]))), k);
        a3 = _mm512_dpbf16_ps(a3, reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(qs[3][p]))), k);
      }
      _mm512_storeu_ps(sc[0] + j, a0);
      _mm512_storeu_ps(sc[1] + j, a1);
      _mm512_storeu_ps(sc[2] + j, a2);
      _mm512_storeu_ps(sc[3] + j, a3);
    }
    for (int b = 0; b < nb; ++b) {
      float* s = sc[b];
      Softmax512(s, len, lp);
      uint32_t* pb = pp + static_cast<size_t>(b) * (lp / 2);
      for (int j = 0; j < lp; j += 32) _mm512_storeu_si512(pb + j / 2, PackBf16(s + j));
    }
    __m512 acc[4][4];
    for (int b = 0; b < 4; ++b)
      for (int c = 0; c < 4; ++c) acc[b][c] = _mm512_setzero_ps();
    const int np = (len + 1) / 2;
    const uint32_t* p0 = pp;
    const uint32_t* p1 = pp + lp / 2;
    const uint32_t* p2 = pp + lp;
    const uint32_t* p3 = pp + 3 * (lp / 2);
    for (int jp = 0; jp < np; ++jp) {
      const uint32_t* v = vt2 + static_cast<size_t>(jp) * head_dim;
      const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(p0[jp])));
      const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(p1[jp])));
      const __m512bh b2 = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(p2[jp])));
      const __m512bh b3 = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(p3[jp])));
      for (int c = 0; c < chunks; ++c) {
        const __m512bh vv = reinterpret_cast<__m512bh>(_mm512_loadu_si512(v + 16 * c));
        acc[0][c] = _mm512_dpbf16_ps(acc[0][c], b0, vv);
        acc[1][c] = _mm512_dpbf16_ps(acc[1][c], b1, vv);
        acc[2][c] = _mm512_dpbf16_ps(acc[2][c], b2, vv);
        acc[3][c] = _mm512_dpbf16_ps(acc[3][c], b3, vv);
      }
    }
    for (int b = 0; b < nb; ++b) {
      float* out = ctx + (first_row_only ? 0 : static_cast<size_t>(i0 + b) * ld_ctx);
      for (int c = 0; c < chunks; ++c) _mm512_storeu_ps(out + 16 * c, acc[b][c]);
    }
  }
}

bool HasAvx512Bf16() {
  static const bool has = __builtin_cpu_supports("avx512bf16");
  return has;
}

bool HasAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  return has;
}

}  // namespace

void Attention(const float* qkv, size_t ld_qkv, const int* offsets, const int* lengths,
               int n_seq, int hidden, int heads, bool first_row_only, float* ctx,
               size_t ld_ctx, bool bf16_dots) {
  const int head_dim = hidden / heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  int max_len = 0;
  for (int s = 0; s < n_seq; ++s) max_len = std::max(max_len, lengths[s]);
  const int tasks = n_seq * heads;
#pragma omp parallel
  {
    const size_t lp = (static_cast<size_t>(max_len) + 15) & ~size_t{15};
    std::vector<float> kt(static_cast<size_t>(head_dim) * lp);
    std::vector<float> scores(4 * lp);
    const bool avx512 = HasAvx512() && head_dim % 16 == 0 && head_dim <= 64;
    const bool bf16 = bf16_dots && avx512 && HasAvx512Bf16() && head_dim % 32 == 0;
    const size_t lp2 = (static_cast<size_t>(max_len) + 31) & ~size_t{31};
    std::vector<uint32_t> kt2, vt2, pp;
    if (bf16) {
      kt2.resize(static_cast<size_t>(head_dim / 2) * lp2);
      vt2.resize(lp2 / 2 * head_dim);
      pp.resize(2 * lp2);
      scores.resize(4 * lp2);
    }
#pragma omp for schedule(dynamic, 1)
    for (int t = 0; t < tasks; ++t) {
      const int s = t / heads, h = t % heads;
      const float* base = qkv + static_cast<size_t>(offsets[s]) * ld_qkv;
      float* out = first_row_only ? ctx + static_cast<size_t>(s) * ld_ctx + h * head_dim
                                  : ctx + static_cast<size_t>(offsets[s]) * ld_ctx + h * head_dim;
      if (bf16) {
        AttendHeadBf16(base, ld_qkv, lengths[s], head_dim, h * head_dim, hidden + h * head_dim,
                       2 * hidden + h * head_dim, first_row_only ? 1 : lengths[s], scale,
                       kt2.data(), vt2.data(), scores.data(), pp.data(), out, ld_ctx,
                       first_row_only);
        continue;
      }
      auto* fn = avx512 ? AttendHeadAvx512 : AttendHead;
      fn(base, ld_qkv, lengths[s], head_dim, h * head_dim, hidden + h * head_dim,
                 2 * hidden + h * head_dim, first_row_only ? 1 : lengths[s], scale, kt.data(),
                 scores.data(), out, ld_ctx, first_row_only);
    }
  }
}

QUARRY_CLONES
void QuantizeRowsU8(const float* x, size_t rows, size_t cols, uint8_t* q, float* scale,
                    int32_t* zp) {
  for (size_t r = 0; r < rows; ++r) {
    const float* row = x + r * cols;
    float lo = 0.0f, hi = 0.0f;
#pragma omp simd reduction(min : lo) reduction(max : hi)
    for (size_t c = 0; c < cols; ++c) {
      lo = std::min(lo, row[c]);
      hi = std::max(hi, row[c]);
    }
    float s = (hi - lo) / 255.0f;
    if (!(s > 0.0f)) s = 1.0f;
    const float inv = 1.0f / s;
    const float z = RoundNearest(-lo * inv);
    scale[r] = s;
    zp[r] = static_cast<int32_t>(z);
    uint8_t* out = q + r * cols;
    for (size_t c = 0; c < cols; ++c) {
      float v = RoundNearest(row[c] * inv) + z;
      v = std::min(255.0f, std::max(0.0f, v));
      out[c] = static_cast<uint8_t>(static_cast<int32_t>(v));
    }
  }
}

QUARRY_CLONES
void Int8Epilogue(const int32_t* acc, size_t rows, size_t cols, const float* row_scale,
                  const int32_t* row_zp, const float* col_scale, const int32_t* col_sum,
                  const float* bias, Act act, bool accumulate, float* out) {
  for (size_t r = 0; r < rows; ++r) {
    const int32_t* a = acc + r * cols;
    float* o = out + r * cols;
    const float rs = row_scale[r];
    const int32_t z = row_zp[r];
    if (accumulate) {
      for (size_t c = 0; c < cols; ++c) {
        o[c] += rs * col_scale[c] * static_cast<float>(a[c] - z * col_sum[c]) + bias[c];
      }
    } else {
      for (size_t c = 0; c < cols; ++c) {
        o[c] = rs * col_scale[c] * static_cast<float>(a[c] - z * col_sum[c]) + bias[c];
      }
      switch (act) {
        case Act::kNone: break;
        case Act::kGeluErf: GeluErf(o, cols); break;
        case Act::kGeluTanh: GeluTanh(o, cols); break;
        case Act::kRelu: Relu(o, cols); break;
      }
    }
  }
}

QUARRY_CLONES
void ToBf16(const float* x, size_t n, uint16_t* out) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits = std::bit_cast<uint32_t>(x[i]);
    bits += 0x7fffu + ((bits >> 16) & 1u);  // activations are finite
    out[i] = static_cast<uint16_t>(bits >> 16);
  }
}

}  // namespace quarry::model::kernels
