// Element-wise and row-wise kernels of the encoder forward pass: layer norm,
// activations, packed variable-length attention, int8 quantization and the
// int8 GEMM epilogue, bf16 conversion.
//
// Each hot function is compiled for x86-64-v4 (AVX-512), x86-64-v3 (AVX2+FMA)
// and baseline x86-64, and the loader picks the clone the CPU supports
// (GCC target_clones), so nothing depends on the build machine's -march.
//
// Thread-safety: pure functions over caller-owned buffers. Attention uses
// OpenMP over (sequence, head) pairs; the others are called per row block by
// the caller's own parallel loops.
#ifndef QUARRY_MODEL_KERNELS_H_
#define QUARRY_MODEL_KERNELS_H_

#include <cstddef>
#include <cstdint>

namespace quarry::model::kernels {

// x[r, :] = gamma * (x[r, :] - mean) / sqrt(var + eps) + beta, for each row.
void LayerNorm(float* x, size_t rows, size_t cols, const float* gamma, const float* beta,
               float eps);

void GeluErf(float* x, size_t n);   // x * Phi(x), erf to ~1e-7
void GeluTanh(float* x, size_t n);  // tanh approximation (gelu_new)
void Relu(float* x, size_t n);

// exp(x) to ~2 ulp on [-87, 88]; vectorizable.
float Exp(float x);
float Erf(float x);

// Multi-head self-attention over sequences packed back to back (no padding).
// Sequence s occupies rows [offsets[s], offsets[s] + lengths[s]) of `qkv`,
// whose row r holds q (hidden floats), k, v at stride `ld_qkv`. Writes the
// context of each query row to `ctx` (row stride `ld_ctx`). With
// `first_row_only`, only the first row of each sequence is computed and
// written to ctx row s (CLS pooling / classifier heads need nothing else in
// the last layer).
// With `bf16_dots` (and a CPU with AVX512_BF16, head_dim a multiple of 32),
// q.k and p.v run as bf16 dot products with f32 accumulation: about twice the
// throughput, at bf16 rounding of the inputs (for the int8 / bf16 precisions).
void Attention(const float* qkv, size_t ld_qkv, const int* offsets, const int* lengths,
               int n_seq, int hidden, int heads, bool first_row_only, float* ctx, size_t ld_ctx,
               bool bf16_dots = false);

// Asymmetric per-row u8 quantization: q = clamp(round(x / scale) + zp, 0, 255).
void QuantizeRowsU8(const float* x, size_t rows, size_t cols, uint8_t* q, float* scale,
                    int32_t* zp);

enum class Act { kNone, kGeluErf, kGeluTanh, kRelu };

// out[r, c] (= or +=) act(row_scale[r] * col_scale[c] * (acc[r, c] - row_zp[r] *
// col_sum[c]) + bias[c]). `accumulate` adds into out (residual) after act.
void Int8Epilogue(const int32_t* acc, size_t rows, size_t cols, const float* row_scale,
                  const int32_t* row_zp, const float* col_scale, const int32_t* col_sum,
                  const float* bias, Act act, bool accumulate, float* out);

// Round-to-nearest-even float -> bf16 bits.
void ToBf16(const float* x, size_t n, uint16_t* out);

}  // namespace quarry::model::kernels

#endif  // QUARRY_MODEL_KERNELS_H_
