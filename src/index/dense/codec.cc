// Vector codecs: float32, int8 scalar quantisation, binary.
//
// int8: one global symmetric range r learned from a sample (the `quantile` of
// the absolute values of the — normalised, for cosine — training vectors);
// x -> round(clamp(x / r, -1, 1) · 127). Queries are quantised the same way
// and compared with the exact integer kernels, so inner products and L2
// distances are those of the codes scaled by (r/127)²: a monotone estimate
// that rescoring then corrects.
// binary: bit i = (x_i > 0); the distance is the Hamming distance.
//
// Params format (SerializeParams): u8 version=1, u8 metric, u8 quantization,
// u32 dim, f32 range, f32 quantile.
#include "index/dense/codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/file_util.h"

namespace quarry::index::dense {
namespace {

constexpr uint8_t kParamsVersion = 1;
constexpr size_t kMaxDim = 1 << 16;

void NormalizeInPlace(float* values, size_t dim) {
  double norm = 0.0;
  for (size_t i = 0; i < dim; ++i) norm += double(values[i]) * values[i];
  if (norm <= 0.0) return;
  float inv = static_cast<float>(1.0 / std::sqrt(norm));
  for (size_t i = 0; i < dim; ++i) values[i] *= inv;
}

class CodecBase : public VectorCodec {
 public:
  CodecBase(size_t dim, Metric metric, Quantization quantization, float quantile)
      : dim_(dim), metric_(metric), quantization_(quantization), quantile_(quantile),
        kernels_(GetKernels()) {}

  size_t dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  Quantization quantization() const override { return quantization_; }
  void Train(std::span<const float>) override {}

  std::string SerializeParams() const override {
    std::string out;
    out.push_back(static_cast<char>(kParamsVersion));
    out.push_back(static_cast<char>(metric_));
    out.push_back(static_cast<char>(quantization_));
    PutFixed32(&out, static_cast<uint32_t>(dim_));
    PutFloat(&out, range());
    PutFloat(&out, quantile_);
    return out;
  }
  virtual float range() const { return 0.0f; }
  virtual void set_range(float) {}

 protected:
  // The vector as it is encoded: a copy, normalised for cosine.
  std::vector<float> Canonical(const float* vector) const {
    std::vector<float> out(vector, vector + dim_);
    if (metric_ == Metric::kCosine) NormalizeInPlace(out.data(), dim_);
    return out;
  }

  size_t dim_;
  Metric metric_;
  Quantization quantization_;
  float quantile_;
  const Kernels& kernels_;
};

// --- float32 -------------------------------------------------------------------

class Float32Codec final : public CodecBase {
 public:
  using CodecBase::CodecBase;
  size_t code_size() const override { return dim_ * sizeof(float); }

  void Encode(const float* vector, uint8_t* code) const override {
    std::vector<float> canonical = Canonical(vector);
    std::memcpy(code, canonical.data(), code_size());
  }
  float Between(const float* a, const float* b) const {
    return metric_ == Metric::kL2 ? kernels_.l2_sq_f32(a, b, dim_) : -kernels_.dot_f32(a, b, dim_);
  }
  float CodeDistance(const uint8_t* a, const uint8_t* b) const override {
    return Between(reinterpret_cast<const float*>(a), reinterpret_cast<const float*>(b));
  }

  class Query final : public PreparedQuery {
   public:
    Query(const Float32Codec* codec, std::vector<float> values)
        : codec_(codec), values_(std::move(values)) {}
    float Distance(const uint8_t* code) const override {
      return codec_->Between(values_.data(), reinterpret_cast<const float*>(code));
    }

   private:
    const Float32Codec* codec_;
    std::vector<float> values_;
  };
  std::unique_ptr<PreparedQuery> Prepare(const float* query) const override {
    return std::make_unique<Query>(this, Canonical(query));
  }
};

// --- int8 ----------------------------------------------------------------------

class Int8Codec final : public CodecBase {
 public:
  using CodecBase::CodecBase;
  size_t code_size() const override { return dim_; }
  float range() const override { return range_; }
  void set_range(float range) override { range_ = range; }

  void Train(std::span<const float> sample) override {
    size_t rows = sample.size() / dim_;
    if (rows == 0) return;
    std::vector<float> magnitudes;
    magnitudes.reserve(rows * dim_);
    for (size_t row = 0; row < rows; ++row) {
      std::vector<float> canonical = Canonical(sample.data() + row * dim_);
      for (float v : canonical) {
        if (std::isfinite(v)) magnitudes.push_back(std::fabs(v));
      }
    }
    if (magnitudes.empty()) return;
    size_t at = std::min(magnitudes.size() - 1,
                         static_cast<size_t>(quantile_ * static_cast<double>(magnitudes.size())));
    std::nth_element(magnitudes.begin(), magnitudes.begin() + at, magnitudes.end());
    float range = magnitudes[at];
    if (!(range > 1e-12f) || !std::isfinite(range)) range = 1.0f;
    range_ = range;
  }

  void Quantize(const float* canonical, int8_t* out) const {
    const float scale = 127.0f / range_;
    for (size_t i = 0; i < dim_; ++i) {
      float x = std::clamp(canonical[i] * scale, -127.0f, 127.0f);
      out[i] = static_cast<int8_t>(std::lrintf(x));
    }
  }
  void Encode(const float* vector, uint8_t* code) const override {
    std::vector<float> canonical = Canonical(vector);
    Quantize(canonical.data(), reinterpret_cast<int8_t*>(code));
  }
  float Between(const int8_t* a, const int8_t* b) const {
    const float unit = range_ / 127.0f;
    if (metric_ == Metric::kL2) return static_cast<float>(kernels_.l2_sq_i8(a, b, dim_)) * unit * unit;
    return -static_cast<float>(kernels_.dot_i8(a, b, dim_)) * unit * unit;
  }
  float CodeDistance(const uint8_t* a, const uint8_t* b) const override {
    return Between(reinterpret_cast<const int8_t*>(a), reinterpret_cast<const int8_t*>(b));
  }

  class Query final : public PreparedQuery {
   public:
    Query(const Int8Codec* codec, std::vector<int8_t> code) : codec_(codec), code_(std::move(code)) {}
    float Distance(const uint8_t* code) const override {
      return codec_->Between(code_.data(), reinterpret_cast<const int8_t*>(code));
    }

   private:
    const Int8Codec* codec_;
    std::vector<int8_t> code_;
  };
  std::unique_ptr<PreparedQuery> Prepare(const float* query) const override {
    std::vector<float> canonical = Canonical(query);
    std::vector<int8_t> code(dim_);
    Quantize(canonical.data(), code.data());
    return std::make_unique<Query>(this, std::move(code));
  }

 private:
  float range_ = 1.0f;
};

// --- binary --------------------------------------------------------------------

class BinaryCodec final : public CodecBase {
 public:
  using CodecBase::CodecBase;
  size_t code_size() const override { return (dim_ + 7) / 8; }

  void Encode(const float* vector, uint8_t* code) const override {
    std::memset(code, 0, code_size());
    for (size_t i = 0; i < dim_; ++i) {
      if (vector[i] > 0.0f) code[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
    }
  }
  float CodeDistance(const uint8_t* a, const uint8_t* b) const override {
    return static_cast<float>(kernels_.hamming(a, b, code_size()));
  }

  class Query final : public PreparedQuery {
   public:
    Query(const BinaryCodec* codec, std::vector<uint8_t> code) : codec_(codec), code_(std::move(code)) {}
    float Distance(const uint8_t* code) const override {
      return codec_->CodeDistance(code_.data(), code);
    }

   private:
    const BinaryCodec* codec_;
    std::vector<uint8_t> code_;
  };
  std::unique_ptr<PreparedQuery> Prepare(const float* query) const override {
    std::vector<uint8_t> code(code_size());
    Encode(query, code.data());
    return std::make_unique<Query>(this, std::move(code));
  }
};

}  // namespace

std::string_view MetricName(Metric metric) {
  switch (metric) {
    case Metric::kL2: return "l2";
    case Metric::kDot: return "dot";
    case Metric::kCosine: return "cosine";
  }
  return "unknown";
}

std::string_view QuantizationName(Quantization quantization) {
  switch (quantization) {
    case Quantization::kFloat32: return "float32";
    case Quantization::kInt8: return "int8";
    case Quantization::kBinary: return "binary";
  }
  return "unknown";
}

Result<std::unique_ptr<VectorCodec>> VectorCodec::Create(size_t dim, Metric metric,
                                                         Quantization quantization,
                                                         float int8_quantile) {
  if (dim == 0 || dim > kMaxDim) {
    return Status::InvalidArgument("vector dimension must be in [1, " + std::to_string(kMaxDim) + "]");
  }
  if (!(int8_quantile > 0.0f && int8_quantile <= 1.0f)) {
    return Status::InvalidArgument("int8 quantile must be in (0, 1]");
  }
  switch (quantization) {
    case Quantization::kFloat32:
      return std::unique_ptr<VectorCodec>(
          std::make_unique<Float32Codec>(dim, metric, quantization, int8_quantile));
    case Quantization::kInt8:
      return std::unique_ptr<VectorCodec>(
          std::make_unique<Int8Codec>(dim, metric, quantization, int8_quantile));
    case Quantization::kBinary:
      return std::unique_ptr<VectorCodec>(
          std::make_unique<BinaryCodec>(dim, metric, quantization, int8_quantile));
  }
  return Status::InvalidArgument("unknown quantization");
}

float VectorCodec::ExactDistance(const float* query, const float* vector) const {
  const Kernels& kernels = GetKernels();
  if (metric() == Metric::kL2) return kernels.l2_sq_f32(query, vector, dim());
  if (metric() == Metric::kDot) return -kernels.dot_f32(query, vector, dim());
  std::vector<float> a(query, query + dim());
  std::vector<float> b(vector, vector + dim());
  NormalizeInPlace(a.data(), dim());
  NormalizeInPlace(b.data(), dim());
  return -kernels.dot_f32(a.data(), b.data(), dim());
}

Result<std::unique_ptr<VectorCodec>> VectorCodec::Deserialize(std::string_view bytes) {
  ByteReader reader(bytes);
  std::string_view head;
  uint32_t dim = 0;
  float range = 0.0f;
  float quantile = 0.0f;
  if (!reader.ReadBytes(3, &head) || !reader.ReadFixed32(&dim) || !reader.ReadFloat(&range) ||
      !reader.ReadFloat(&quantile) || reader.remaining() != 0) {
    return Status::Corruption("codec params: truncated");
  }
  if (static_cast<uint8_t>(head[0]) != kParamsVersion) {
    return Status::Corruption("codec params: unsupported version");
  }
  uint8_t metric = static_cast<uint8_t>(head[1]);
  uint8_t quantization = static_cast<uint8_t>(head[2]);
  if (metric > static_cast<uint8_t>(Metric::kCosine) ||
      quantization > static_cast<uint8_t>(Quantization::kBinary)) {
    return Status::Corruption("codec params: unknown metric or quantization");
  }
  auto codec = Create(dim, static_cast<Metric>(metric), static_cast<Quantization>(quantization),
                      quantile);
  if (!codec.ok()) return Status::Corruption("codec params: " + codec.status().message());
  if (static_cast<Quantization>(quantization) == Quantization::kInt8) {
    if (!(range > 0.0f) || !std::isfinite(range)) return Status::Corruption("codec params: bad range");
    static_cast<Int8Codec*>(codec->get())->set_range(range);
  }
  return codec;
}

}  // namespace quarry::index::dense
