// A fully connected layer y = act(x W^T + b) over a variable number of rows,
// in one of three precisions, computed by oneDNN's matmul (JIT kernels chosen
// at run time for the CPU: AVX-512, VNNI, AVX512_BF16, AMX where present).
//
//   kF32   f32 x f32.
//   kBF16  bf16 x bf16 -> f32; activations rounded to bf16 per call.
//   kInt8  u8 x s8 -> s32 (VNNI): weights quantized per output channel
//          (symmetric, scale = max|w| / 127; 63 without VNNI, where pairs of
//          products are summed in saturating int16), activations per row at run time
//          (asymmetric u8); the epilogue dequantizes, adds the bias and applies
//          the activation.
//
// `accumulate` layers add into y (the residual connection) instead of
// overwriting it; they take no activation.
//
// Thread-safety: Forward is not safe to call concurrently on one Linear (the
// encoder serializes its forward passes); distinct Linears are independent.
#ifndef QUARRY_MODEL_LINEAR_H_
#define QUARRY_MODEL_LINEAR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "model/kernels.h"
#include "quarry/status.h"

namespace quarry::model {

enum class Precision { kF32, kBF16, kInt8 };

std::string_view PrecisionName(Precision p);
Result<Precision> ParsePrecision(std::string_view name);  // "fp32"/"f32", "bf16", "int8"

// True when the CPU runs `p` natively (bf16 needs AVX512_BF16, int8 is fast
// with VNNI but runs anywhere oneDNN does).
bool PrecisionSupported(Precision p);

// Activations already quantized per row (u8, asymmetric), as the int8 layers
// consume them. Produced by the previous layer's epilogue so that no separate
// pass over the activations is needed.
struct QuantizedRows {
  std::vector<uint8_t> q;
  std::vector<float> scale;
  std::vector<int32_t> zp;
  size_t cols = 0;
  void Reserve(size_t rows, size_t c);
  // Quantizes rows [begin, end) of x (row stride cols) in parallel.
  void Quantize(const float* x, size_t rows, size_t c);
};

// Per-row work after the product, bias, activation and residual: a layer norm
// and/or quantizing the row for the next int8 layer. Fused into the int8
// epilogue; a separate row loop for fp32/bf16.
struct RowPost {
  const float* ln_gamma = nullptr;  // null: no layer norm
  const float* ln_beta = nullptr;
  float ln_eps = 0.0f;
  QuantizedRows* quantize = nullptr;  // null: no quantization
};

// Scratch buffers shared by the layers of one encoder, grown on demand.
struct LinearScratch {
  std::vector<uint8_t> q;      // u8 activations
  std::vector<float> row_scale;
  std::vector<int32_t> row_zp;
  std::vector<int32_t> acc;    // s32 accumulators
  std::vector<uint16_t> bf16;  // bf16 activations
};

class Linear {
 public:
  ~Linear();
  Linear(const Linear&) = delete;
  Linear& operator=(const Linear&) = delete;

  // `w` is [out, in] row-major (torch's Linear layout); `b` has `out` floats.
  static Result<std::unique_ptr<Linear>> Create(const float* w, const float* b, int out, int in,
                                                Precision precision, kernels::Act act,
                                                bool accumulate);

  // y[rows, out] = (or +=) act(x[rows, in] W^T + b), then `post` per row.
  // int8 layers take `pre` (x already quantized) when given and ignore x, and
  // accept y == null when `post` quantizes the rows (only those are kept).
  void Forward(const float* x, size_t rows, float* y, LinearScratch* scratch,
               const RowPost* post = nullptr, const QuantizedRows* pre = nullptr) const;

  int in() const { return in_; }
  int out() const { return out_; }
  size_t weight_bytes() const { return weight_bytes_; }

 private:
  struct Impl;
  Linear() = default;
  std::unique_ptr<Impl> impl_;
  int in_ = 0, out_ = 0;
  size_t weight_bytes_ = 0;
};

}  // namespace quarry::model

#endif  // QUARRY_MODEL_LINEAR_H_
