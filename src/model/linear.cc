#include "model/linear.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <dnnl.hpp>

namespace quarry::model {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using DT = memory::data_type;

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}


}  // namespace

std::string_view PrecisionName(Precision p) {
  switch (p) {
    case Precision::kF32: return "fp32";
    case Precision::kBF16: return "bf16";
    case Precision::kInt8: return "int8";
  }
  return "?";
}

Result<Precision> ParsePrecision(std::string_view name) {
  if (name == "fp32" || name == "f32" || name == "float32") return Precision::kF32;
  if (name == "bf16" || name == "bfloat16") return Precision::kBF16;
  if (name == "int8" || name == "i8") return Precision::kInt8;
  return Status::InvalidArgument("unknown precision '" + std::string(name) +
                                 "' (fp32, bf16, int8)");
}

bool PrecisionSupported(Precision p) {
  switch (p) {
    case Precision::kF32: return true;
    case Precision::kBF16: return __builtin_cpu_supports("avx512bf16");
    case Precision::kInt8: return __builtin_cpu_supports("avx512vnni") || __builtin_cpu_supports("avx2");
  }
  return false;
}

struct Linear::Impl {
  Precision precision = Precision::kF32;
  kernels::Act act = kernels::Act::kNone;
  bool accumulate = false;
  dnnl::matmul prim;
  memory::desc weights_md;
  memory weights;   // in the primitive's preferred layout
  memory bias;      // f32 [1, out] (f32 / bf16 only)
  std::vector<float> bias_f32;
  // int8 only
  std::vector<float> col_scale;
  std::vector<int32_t> col_sum;
  mutable dnnl::stream stream;
};

Linear::~Linear() = default;

Result<std::unique_ptr<Linear>> Linear::Create(const float* w, const float* b, int out, int in,
                                               Precision precision, kernels::Act act,
                                               bool accumulate) {
  std::unique_ptr<Linear> layer(new Linear());
  layer->in_ = in;
  layer->out_ = out;
  auto impl = std::make_unique<Impl>();
  impl->precision = precision;
  impl->act = act;
  impl->accumulate = accumulate;
  impl->bias_f32.assign(b, b + out);
  const memory::dim K = in, N = out, M = DNNL_RUNTIME_DIM_VAL;
  try {
    dnnl::engine& eng = Engine();
    impl->stream = dnnl::stream(eng);
    DT src_dt = DT::f32, wei_dt = DT::f32, dst_dt = DT::f32;
    if (precision == Precision::kBF16) src_dt = wei_dt = DT::bf16;
    if (precision == Precision::kInt8) src_dt = DT::u8, wei_dt = DT::s8, dst_dt = DT::s32;
    memory::desc src_md({M, K}, src_dt, Tag::ab);
    memory::desc wei_md({K, N}, wei_dt, Tag::any);
    memory::desc dst_md({M, N}, dst_dt, Tag::ab);
    dnnl::primitive_attr attr;
    dnnl::post_ops ops;
    if (precision != Precision::kInt8) {
      if (accumulate) {
        ops.append_sum(1.0f);
      } else if (act == kernels::Act::kGeluErf) {
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
      } else if (act == kernels::Act::kGeluTanh) {
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_tanh, 0.0f, 0.0f);
      } else if (act == kernels::Act::kRelu) {
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      }
      attr.set_post_ops(ops);
    }
    dnnl::matmul::primitive_desc pd;
    if (precision == Precision::kInt8) {
      pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wei_md, dst_md), attr, eng);
    } else {
      memory::desc bias_md({1, N}, DT::f32, Tag::ab);
      pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wei_md, bias_md, dst_md), attr,
                                        eng);
      impl->bias = memory(bias_md, eng);
      std::memcpy(impl->bias.get_data_handle(), b, sizeof(float) * out);
    }
    impl->prim = dnnl::matmul(pd);
    impl->weights_md = pd.weights_desc();
    impl->weights = memory(impl->weights_md, eng);

    // The user's weights: torch stores [N, K] row-major, which is K x N in "ba".
    std::vector<float> f32_copy;
    std::vector<uint16_t> bf16_copy;
    std::vector<int8_t> s8_copy;
    memory user;
    const size_t count = static_cast<size_t>(N) * K;
    if (precision == Precision::kF32) {
      f32_copy.assign(w, w + count);
      user = memory({{K, N}, DT::f32, Tag::ba}, eng, f32_copy.data());
    } else if (precision == Precision::kBF16) {
      bf16_copy.resize(count);
      kernels::ToBf16(w, count, bf16_copy.data());
      user = memory({{K, N}, DT::bf16, Tag::ba}, eng, bf16_copy.data());
    } else {
      s8_copy.resize(count);
      impl->col_scale.resize(N);
      impl->col_sum.resize(N);
      // Without VNNI the u8 x s8 products are summed in pairs into int16
      // (vpmaddubsw), which saturates for 8-bit weights: use 7 bits there.
      const int qmax = __builtin_cpu_supports("avx512vnni") ? 127 : 63;
      for (memory::dim n = 0; n < N; ++n) {
        const float* row = w + n * K;
        float mx = 0.0f;
        for (memory::dim k = 0; k < K; ++k) mx = std::max(mx, std::fabs(row[k]));
        const float scale = mx > 0.0f ? mx / static_cast<float>(qmax) : 1.0f;
        int32_t sum = 0;
        for (memory::dim k = 0; k < K; ++k) {
          int32_t q = static_cast<int32_t>(std::nearbyint(row[k] / scale));
          q = std::clamp(q, -qmax, qmax);
          s8_copy[n * K + k] = static_cast<int8_t>(q);
          sum += q;
        }
        impl->col_scale[n] = scale;
        impl->col_sum[n] = sum;
      }
      user = memory({{K, N}, DT::s8, Tag::ba}, eng, s8_copy.data());
    }
    dnnl::reorder(user, impl->weights).execute(impl->stream, user, impl->weights);
    impl->stream.wait();
    layer->weight_bytes_ = impl->weights_md.get_size();
  } catch (const dnnl::error& e) {
    return Status::Internal(std::string("oneDNN matmul setup failed: ") + e.what());
  }
  layer->impl_ = std::move(impl);
  return layer;
}

void QuantizedRows::Reserve(size_t rows, size_t c) {
  cols = c;
  if (q.size() < rows * c) q.resize(rows * c);
  if (scale.size() < rows) {
    scale.resize(rows);
    zp.resize(rows);
  }
}

void QuantizedRows::Quantize(const float* x, size_t rows, size_t c) {
  Reserve(rows, c);
#pragma omp parallel for schedule(static)
  for (size_t r = 0; r < rows; ++r) {
    kernels::QuantizeRowsU8(x + r * c, 1, c, q.data() + r * c, scale.data() + r, zp.data() + r);
  }
}

namespace {

void ApplyRowPost(const RowPost& post, float* row, size_t r, size_t cols) {
  if (post.ln_gamma != nullptr) {
    kernels::LayerNorm(row, 1, cols, post.ln_gamma, post.ln_beta, post.ln_eps);
  }
  if (post.quantize != nullptr) {
    QuantizedRows& qr = *post.quantize;
    kernels::QuantizeRowsU8(row, 1, cols, qr.q.data() + r * cols, qr.scale.data() + r,
                            qr.zp.data() + r);
  }
}

}  // namespace

void Linear::Forward(const float* x, size_t rows, float* y, LinearScratch* scratch,
                     const RowPost* post, const QuantizedRows* pre) const {
  if (rows == 0) return;
  const Impl& im = *impl_;
  dnnl::engine& eng = Engine();
  const memory::dim M = static_cast<memory::dim>(rows), K = in_, N = out_;
  const size_t in_count = rows * static_cast<size_t>(in_);
  const size_t out_sz = static_cast<size_t>(out_);
  if (post != nullptr && post->quantize != nullptr) post->quantize->Reserve(rows, out_sz);
  if (im.precision == Precision::kF32 || im.precision == Precision::kBF16) {
    void* src_ptr = const_cast<float*>(x);
    DT src_dt = DT::f32;
    if (im.precision == Precision::kBF16) {
      if (scratch->bf16.size() < in_count) scratch->bf16.resize(in_count);
      kernels::ToBf16(x, in_count, scratch->bf16.data());
      src_ptr = scratch->bf16.data();
      src_dt = DT::bf16;
    }
    memory src({{M, K}, src_dt, Tag::ab}, eng, src_ptr);
    memory dst({{M, N}, DT::f32, Tag::ab}, eng, y);
    im.prim.execute(im.stream, {{DNNL_ARG_SRC, src},
                                {DNNL_ARG_WEIGHTS, im.weights},
                                {DNNL_ARG_BIAS, im.bias},
                                {DNNL_ARG_DST, dst}});
    im.stream.wait();
    if (post != nullptr) {
#pragma omp parallel for schedule(static)
      for (size_t r = 0; r < rows; ++r) ApplyRowPost(*post, y + r * out_sz, r, out_sz);
    }
    return;
  }
  // int8
  const size_t in_sz = static_cast<size_t>(in_);
  const uint8_t* q;
  const float* rs;
  const int32_t* rz;
  if (pre != nullptr) {
    q = pre->q.data();
    rs = pre->scale.data();
    rz = pre->zp.data();
  } else {
    if (scratch->q.size() < in_count) scratch->q.resize(in_count);
    if (scratch->row_scale.size() < rows) {
      scratch->row_scale.resize(rows);
      scratch->row_zp.resize(rows);
    }
    uint8_t* wq = scratch->q.data();
    float* ws = scratch->row_scale.data();
    int32_t* wz = scratch->row_zp.data();
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; ++r) {
      kernels::QuantizeRowsU8(x + r * in_sz, 1, in_sz, wq + r * in_sz, ws + r, wz + r);
    }
    q = wq;
    rs = ws;
    rz = wz;
  }
  const size_t out_count = rows * out_sz;
  if (scratch->acc.size() < out_count) scratch->acc.resize(out_count);
  memory src({{M, K}, DT::u8, Tag::ab}, eng, const_cast<uint8_t*>(q));
  memory dst({{M, N}, DT::s32, Tag::ab}, eng, scratch->acc.data());
  im.prim.execute(im.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, im.weights}, {DNNL_ARG_DST, dst}});
  im.stream.wait();
  const int32_t* acc = scratch->acc.data();
  // With y == null only the quantized rows are wanted (the next int8 layer's
  // input): each row lives in a small per-thread buffer, never in memory.
#pragma omp parallel
  {
    std::vector<float> row_buf(y == nullptr ? out_sz : 0);
#pragma omp for schedule(static)
    for (size_t r = 0; r < rows; ++r) {
      float* row = y == nullptr ? row_buf.data() : y + r * out_sz;
      kernels::Int8Epilogue(acc + r * out_sz, 1, out_sz, rs + r, rz + r, im.col_scale.data(),
                            im.col_sum.data(), im.bias_f32.data(), im.act, im.accumulate, row);
      if (post != nullptr) ApplyRowPost(*post, row, r, out_sz);
    }
  }
}

}  // namespace quarry::model
