// Vector codecs: float32, int8 scalar quantisation, binary.
//
// Every codec works on the "canonical" vector: the input, normalised to unit
// length for cosine (a zero vector stays zero).
//
// int8 (scalar quantisation with per-vector corrections)
// ------------------------------------------------------
// Training learns the per-dimension mean μ of the sample and one symmetric
// clipping range r: for each dimension the `quantile` of |v_i - μ_i| over the
// (canonical) sample, and r = the largest of those. Taking the largest
// per-dimension quantile (rather than one quantile over all coordinates, as
// Qdrant does) keeps dimensions with a wider spread — common in transformer
// embeddings — from being clipped wholesale; on such data it lifted int8
// recall@10 from 0.58-0.83 to 0.95-0.99 (codec_test.cc). δ = r / 127. A vector
// v is centred, c = v - μ, and coded as q_i = round(clamp(c_i / δ, -127, 127)),
// leaving e = c - δ·q. An untrained codec has μ = 0 and r = 1.
//
// Code layout (dim + 8 bytes): q (dim int8) | f32 correction | i32 offset.
//
//   dot, cosine  <x, y> = <cx, cy> + <x, μ> + <y, μ> - |μ|²   (exact), and
//                <cx, cy> ≈ δ²<qx, qy> + δ<ex, qx> + δ<ey, qy>: the cross terms
//                δ<ex, qy>, δ<ey, qx> are estimated from the vector itself
//                (exact when x = y, close for near neighbours; Lucene's
//                scalar-quantisation correction). So
//                correction = <x, μ> - |μ|²/2 + δ<ex, qx>,
//                <x, y> ≈ δ²<qx, qy> + correction_x + correction_y.
//   L2           centring does not change distances, and
//                |x - y|² ≈ δ²|qx - qy|² + |ex|² + |ey|², counting in |e|²
//                only the rounding error of coordinates that were not clipped
//                (near neighbours share their clipped coordinates, so those
//                errors cancel; counting them measurably hurt recall).
//
// Prepared queries keep u = q + 128 as unsigned bytes, so Distance() is one
// dot_u8i8 kernel call (a single vpdpbusd per 64 bytes on VNNI) plus a few
// flops, using the code's integer offset:
//   dot, cosine  offset = 128·Σq           <qx, qy> = <u, qx> - offset_x
//   L2           offset = |q|² + 256·Σq    |qx - qy|² = offset_x + |qy|² - 2<u, qx>
// Code-to-code distances (graph construction) use dot_i8 / l2_sq_i8 directly.
//
// binary: bit i of byte i/8 (LSB first) = (x_i > μ_i) on the canonical
// vector; distance = Hamming. Training learns the per-dimension mean μ of the
// sample (an untrained codec, and indexes saved before training existed, use
// μ = 0, the sign bit). Thresholding at the mean keeps every bit informative on
// data that is not centred at zero: with all-positive coordinates (pixels,
// counts, ReLU features) the sign bit is 1 everywhere and every code is equal.
//
// Params format (SerializeParams), little-endian:
//   u8 version = 1 | u8 metric | u8 quantization | u32 dim | f32 int8_quantile
//   | f32 range (int8; 0 otherwise) | u8 has_mean (int8: 1; binary: 0 or 1;
//   float32: 0) | f32 mean[dim] when has_mean
// Deserialize checks every field and the exact length.
#include "index/dense/codec.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/file_util.h"

namespace quarry::index::dense {
namespace {

constexpr uint8_t kParamsVersion = 1;
constexpr size_t kMaxDim = size_t{1} << 16;
// l2_sq_i8 and the prepared L2 offset stay exact in int32 below this.
constexpr size_t kMaxInt8Dim = 32767;
constexpr size_t kInt8Trailer = 8;  // f32 correction + i32 offset

void NormalizeInPlace(float* values, size_t dim) {
  double norm = 0.0;
  for (size_t i = 0; i < dim; ++i) norm += double{values[i]} * values[i];
  if (!(norm > 0.0) || !std::isfinite(norm)) return;
  const double inv = 1.0 / std::sqrt(norm);
  for (size_t i = 0; i < dim; ++i) values[i] = static_cast<float>(values[i] * inv);
}

// A heap array of T whose first element sits on a 64-byte boundary. Prepared
// queries live in one: a zmm load that straddles two cache lines costs double
// (measured on Zen 4: l2_sq_f32 at dim 384 takes 6.1 ns with both operands
// aligned, 11-12 ns with both 16-byte aligned).
template <typename T>
class AlignedArray {
 public:
  static constexpr size_t kAlign = 64;
  explicit AlignedArray(size_t n) : storage_(n + kAlign / sizeof(T)) {
    const auto address = reinterpret_cast<uintptr_t>(storage_.data());
    offset_ = (kAlign - address % kAlign) % kAlign / sizeof(T);
  }
  AlignedArray(AlignedArray&&) = default;  // the heap block, hence the offset, moves along
  AlignedArray(const AlignedArray&) = delete;
  AlignedArray& operator=(const AlignedArray&) = delete;

  T* data() { return storage_.data() + offset_; }
  const T* data() const { return storage_.data() + offset_; }

 private:
  std::vector<T> storage_;
  size_t offset_ = 0;
};

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
    PutFloat(&out, quantile_);
    AppendTrained(&out);
    return out;
  }
  // The trained part of the params: range, has_mean, mean.
  virtual void AppendTrained(std::string* out) const {
    PutFloat(out, 0.0f);
    out->push_back(0);
  }

 protected:
  // The vector as it is encoded: a copy, normalised for cosine.
  void Canonical(const float* vector, float* out) const {
    std::copy(vector, vector + dim_, out);
    if (metric_ == Metric::kCosine) NormalizeInPlace(out, dim_);
  }

  const size_t dim_;
  const Metric metric_;
  const Quantization quantization_;
  const float quantile_;
  const Kernels& kernels_;
};

// --- float32 -----------------------------------------------------------------

class Float32Codec final : public CodecBase {
 public:
  using CodecBase::CodecBase;
  size_t code_size() const override { return dim_ * sizeof(float); }

  void Encode(const float* vector, uint8_t* code) const override {
    std::vector<float> canonical(dim_);
    Canonical(vector, canonical.data());
    std::memcpy(code, canonical.data(), code_size());
  }
  float Between(const float* a, const float* b) const {
    return metric_ == Metric::kL2 ? kernels_.l2_sq_f32(a, b, dim_) : -kernels_.dot_f32(a, b, dim_);
  }
  float CodeDistance(const uint8_t* a, const uint8_t* b) const override {
    // Codes may sit at any byte offset: the kernels take unaligned pointers.
    return Between(reinterpret_cast<const float*>(a), reinterpret_cast<const float*>(b));
  }

  class Query final : public PreparedQuery {
   public:
    Query(const Float32Codec& codec, AlignedArray<float> values)
        : values_(std::move(values)), dim_(codec.dim_),
          l2_(codec.metric_ == Metric::kL2), kernels_(codec.kernels_) {}
    float Distance(const uint8_t* code) const override {
      const float* other = reinterpret_cast<const float*>(code);
      return l2_ ? kernels_.l2_sq_f32(values_.data(), other, dim_)
                 : -kernels_.dot_f32(values_.data(), other, dim_);
    }

   private:
    const AlignedArray<float> values_;
    const size_t dim_;
    const bool l2_;
    const Kernels& kernels_;
  };
  std::unique_ptr<PreparedQuery> Prepare(const float* query) const override {
    AlignedArray<float> values(dim_);
    Canonical(query, values.data());
    return std::make_unique<Query>(*this, std::move(values));
  }
};

// --- int8 --------------------------------------------------------------------

class Int8Codec final : public CodecBase {
 public:
  Int8Codec(size_t dim, Metric metric, Quantization quantization, float quantile)
      : CodecBase(dim, metric, quantization, quantile), mean_(dim, 0.0f) {
    SetRange(1.0f);
  }

  size_t code_size() const override { return dim_ + kInt8Trailer; }

  void Train(std::span<const float> sample) override {
    const size_t rows = sample.size() / dim_;
    if (rows == 0) return;
    std::vector<float> canonical(rows * dim_);
    std::vector<double> sum(dim_, 0.0);
    for (size_t row = 0; row < rows; ++row) {
      float* values = canonical.data() + row * dim_;
      Canonical(sample.data() + row * dim_, values);
      for (size_t i = 0; i < dim_; ++i) sum[i] += values[i];
    }
    std::vector<float> mean(dim_, 0.0f);
    for (size_t i = 0; i < dim_; ++i) {
      mean[i] = static_cast<float>(sum[i] / static_cast<double>(rows));
      if (!std::isfinite(mean[i])) mean[i] = 0.0f;
    }
    // The clip bound: the largest per-dimension `quantile` of |v_i - μ_i|.
    float range = 0.0f, max_magnitude = 0.0f;
    std::vector<float> column;
    column.reserve(rows);
    for (size_t i = 0; i < dim_; ++i) {
      column.clear();
      for (size_t row = 0; row < rows; ++row) {
        const float magnitude = std::fabs(canonical[row * dim_ + i] - mean[i]);
        if (!std::isfinite(magnitude)) continue;
        column.push_back(magnitude);
        max_magnitude = std::max(max_magnitude, magnitude);
      }
      if (column.empty()) continue;
      const size_t at = std::min(column.size() - 1,
                                 static_cast<size_t>(static_cast<double>(quantile_) *
                                                     static_cast<double>(column.size())));
      std::nth_element(column.begin(), column.begin() + at, column.end());
      range = std::max(range, column[at]);
    }
    // A degenerate sample (constant coordinates) falls back to the largest
    // deviation, then to the untrained range.
    if (!(range > 1e-20f)) range = max_magnitude;
    if (!(range > 1e-20f)) range = 1.0f;
    Restore(range, std::move(mean));
  }

  void AppendTrained(std::string* out) const override {
    PutFloat(out, range_);
    out->push_back(1);
    for (float m : mean_) PutFloat(out, m);
  }
  // Sets the trained parameters (from Train or validated params).
  void Restore(float range, std::vector<float> mean) {
    mean_ = std::move(mean);
    SetRange(range);
    double mean_sq = 0.0;
    for (float m : mean_) mean_sq += double{m} * m;
    half_mean_sq_ = 0.5 * mean_sq;
  }

  // The quantised vector and its terms (see the file comment).
  struct Coded {
    float correction = 0.0f;
    int64_t sum = 0;     // Σq
    int64_t sq_sum = 0;  // Σq²
  };
  Coded Quantize(const float* vector, int8_t* q) const {
    std::vector<float> canonical(dim_);
    Canonical(vector, canonical.data());
    Coded coded;
    double mean_dot = 0.0;   // <v, μ>
    double error_dot = 0.0;  // <e, q>
    double round_sq = 0.0;   // |e|² over the coordinates that were not clipped
    for (size_t i = 0; i < dim_; ++i) {
      const float v = canonical[i];
      const float centred = v - mean_[i];
      float scaled = centred * inv_unit_;
      if (!(scaled == scaled)) scaled = 0.0f;  // NaN (callers reject these)
      const long rounded = std::lrint(std::clamp(scaled, -127.0f, 127.0f));
      q[i] = static_cast<int8_t>(rounded);
      const double error = double{centred} - double{unit_} * static_cast<double>(rounded);
      mean_dot += double{v} * mean_[i];
      error_dot += error * static_cast<double>(rounded);
      if (std::fabs(scaled) <= 127.5f) round_sq += error * error;
      coded.sum += rounded;
      coded.sq_sum += rounded * rounded;
    }
    coded.correction =
        metric_ == Metric::kL2
            ? static_cast<float>(round_sq)
            : static_cast<float>(mean_dot - half_mean_sq_ + double{unit_} * error_dot);
    return coded;
  }

  void Encode(const float* vector, uint8_t* code) const override {
    const Coded coded = Quantize(vector, reinterpret_cast<int8_t*>(code));
    const int32_t offset = static_cast<int32_t>(
        metric_ == Metric::kL2 ? coded.sq_sum + 256 * coded.sum : 128 * coded.sum);
    std::memcpy(code + dim_, &coded.correction, sizeof(float));
    std::memcpy(code + dim_ + sizeof(float), &offset, sizeof(int32_t));
  }

  float CodeDistance(const uint8_t* a, const uint8_t* b) const override {
    const int8_t* qa = reinterpret_cast<const int8_t*>(a);
    const int8_t* qb = reinterpret_cast<const int8_t*>(b);
    const float corrections = Correction(a) + Correction(b);
    if (metric_ == Metric::kL2) {
      return unit_sq_ * static_cast<float>(kernels_.l2_sq_i8(qa, qb, dim_)) + corrections;
    }
    return -(unit_sq_ * static_cast<float>(kernels_.dot_i8(qa, qb, dim_)) + corrections);
  }

  class Query final : public PreparedQuery {
   public:
    Query(const Int8Codec& codec, AlignedArray<uint8_t> biased, const Coded& coded)
        : biased_(std::move(biased)), dim_(codec.dim_), l2_(codec.metric_ == Metric::kL2),
          unit_sq_(codec.unit_sq_), correction_(coded.correction), sq_sum_(coded.sq_sum),
          dot_u8i8_(codec.kernels_.dot_u8i8) {}

    float Distance(const uint8_t* code) const override {
      const int64_t dot = dot_u8i8_(biased_.data(), reinterpret_cast<const int8_t*>(code), dim_);
      int32_t offset;
      std::memcpy(&offset, code + dim_ + sizeof(float), sizeof(int32_t));
      const float correction = correction_ + Correction(code, dim_);
      if (l2_) return unit_sq_ * static_cast<float>(offset + sq_sum_ - 2 * dot) + correction;
      return -(unit_sq_ * static_cast<float>(dot - offset) + correction);
    }

   private:
    const AlignedArray<uint8_t> biased_;  // q + 128
    const size_t dim_;
    const bool l2_;
    const float unit_sq_;
    const float correction_;
    const int64_t sq_sum_;
    int32_t (*const dot_u8i8_)(const uint8_t*, const int8_t*, size_t);
  };

  std::unique_ptr<PreparedQuery> Prepare(const float* query) const override {
    AlignedArray<uint8_t> biased(dim_);
    const Coded coded = Quantize(query, reinterpret_cast<int8_t*>(biased.data()));
    for (size_t i = 0; i < dim_; ++i) biased.data()[i] ^= 0x80;  // two's complement q -> q + 128
    return std::make_unique<Query>(*this, std::move(biased), coded);
  }

 private:
  static float Correction(const uint8_t* code, size_t dim) {
    float correction;
    std::memcpy(&correction, code + dim, sizeof(float));
    return correction;
  }
  float Correction(const uint8_t* code) const { return Correction(code, dim_); }

  void SetRange(float range) {
    range_ = range;
    unit_ = range / 127.0f;
    inv_unit_ = 127.0f / range;
    unit_sq_ = unit_ * unit_;
  }

  std::vector<float> mean_;
  double half_mean_sq_ = 0.0;  // |μ|² / 2
  float range_ = 1.0f;
  float unit_ = 1.0f / 127.0f;   // δ
  float inv_unit_ = 127.0f;      // 1 / δ
  float unit_sq_ = 1.0f / (127.0f * 127.0f);
};

// --- binary ------------------------------------------------------------------

class BinaryCodec final : public CodecBase {
 public:
  using CodecBase::CodecBase;
  size_t code_size() const override { return (dim_ + 7) / 8; }

  void Train(std::span<const float> sample) override {
    const size_t rows = sample.size() / dim_;
    if (rows == 0) return;
    std::vector<float> canonical(dim_);
    std::vector<double> sum(dim_, 0.0);
    for (size_t row = 0; row < rows; ++row) {
      Canonical(sample.data() + row * dim_, canonical.data());
      for (size_t i = 0; i < dim_; ++i) sum[i] += canonical[i];
    }
    std::vector<float> mean(dim_);
    for (size_t i = 0; i < dim_; ++i) {
      mean[i] = static_cast<float>(sum[i] / static_cast<double>(rows));
      if (!std::isfinite(mean[i])) mean[i] = 0.0f;
    }
    Restore(std::move(mean));
  }
  void Restore(std::vector<float> mean) { mean_ = std::move(mean); }
  void AppendTrained(std::string* out) const override {
    PutFloat(out, 0.0f);
    out->push_back(mean_.empty() ? 0 : 1);
    for (float m : mean_) PutFloat(out, m);
  }

  void Encode(const float* vector, uint8_t* code) const override {
    std::memset(code, 0, code_size());
    if (mean_.empty()) {  // the sign survives normalisation: no copy needed
      for (size_t i = 0; i < dim_; ++i) {
        if (vector[i] > 0.0f) code[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
      }
      return;
    }
    std::vector<float> canonical(dim_);
    Canonical(vector, canonical.data());
    for (size_t i = 0; i < dim_; ++i) {
      if (canonical[i] > mean_[i]) code[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
    }
  }
  float CodeDistance(const uint8_t* a, const uint8_t* b) const override {
    return static_cast<float>(kernels_.hamming(a, b, code_size()));
  }

 private:
  std::vector<float> mean_;  // empty: untrained, threshold at 0

 public:
  class Query final : public PreparedQuery {
   public:
    Query(const BinaryCodec& codec, AlignedArray<uint8_t> bits)
        : bits_(std::move(bits)), bytes_(codec.code_size()), hamming_(codec.kernels_.hamming) {}
    float Distance(const uint8_t* code) const override {
      return static_cast<float>(hamming_(bits_.data(), code, bytes_));
    }

   private:
    const AlignedArray<uint8_t> bits_;
    const size_t bytes_;
    uint32_t (*const hamming_)(const uint8_t*, const uint8_t*, size_t);
  };
  std::unique_ptr<PreparedQuery> Prepare(const float* query) const override {
    AlignedArray<uint8_t> bits(code_size());
    Encode(query, bits.data());
    return std::make_unique<Query>(*this, std::move(bits));
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
  const size_t max_dim = quantization == Quantization::kInt8 ? kMaxInt8Dim : kMaxDim;
  if (dim == 0 || dim > max_dim) {
    return Status::InvalidArgument("vector dimension must be in [1, " + std::to_string(max_dim) +
                                   "] for " + std::string(QuantizationName(quantization)));
  }
  if (metric != Metric::kL2 && metric != Metric::kDot && metric != Metric::kCosine) {
    return Status::InvalidArgument("unknown metric");
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
  const size_t n = dim();
  switch (metric()) {
    case Metric::kL2: return kernels.l2_sq_f32(query, vector, n);
    case Metric::kDot: return -kernels.dot_f32(query, vector, n);
    case Metric::kCosine: {
      const double dot = kernels.dot_f32(query, vector, n);
      const double norms =
          double{kernels.dot_f32(query, query, n)} * double{kernels.dot_f32(vector, vector, n)};
      // A zero vector is encoded as zero: similarity 0, as the codes give.
      return norms > 0.0 ? static_cast<float>(-dot / std::sqrt(norms)) : 0.0f;
    }
  }
  return 0.0f;
}

Result<std::unique_ptr<VectorCodec>> VectorCodec::Deserialize(std::string_view bytes) {
  ByteReader reader(bytes);
  std::string_view head;
  uint32_t dim = 0;
  float quantile = 0.0f;
  float range = 0.0f;
  std::string_view has_mean;
  if (!reader.ReadBytes(3, &head) || !reader.ReadFixed32(&dim) || !reader.ReadFloat(&quantile) ||
      !reader.ReadFloat(&range) || !reader.ReadBytes(1, &has_mean)) {
    return Status::Corruption("codec params: truncated");
  }
  if (static_cast<uint8_t>(head[0]) != kParamsVersion) {
    return Status::Corruption("codec params: unsupported version " +
                              std::to_string(static_cast<uint8_t>(head[0])));
  }
  const uint8_t metric = static_cast<uint8_t>(head[1]);
  const uint8_t quantization = static_cast<uint8_t>(head[2]);
  if (metric > static_cast<uint8_t>(Metric::kCosine) ||
      quantization > static_cast<uint8_t>(Quantization::kBinary)) {
    return Status::Corruption("codec params: unknown metric or quantization");
  }
  auto codec = Create(dim, static_cast<Metric>(metric), static_cast<Quantization>(quantization),
                      quantile);
  if (!codec.ok()) return Status::Corruption("codec params: " + codec.status().message());
  if (static_cast<Quantization>(quantization) == Quantization::kBinary && has_mean[0] == 1) {
    if (range != 0.0f || reader.remaining() != size_t{dim} * sizeof(float)) {
      return Status::Corruption("codec params: bad binary mean");
    }
    std::vector<float> mean(dim);
    for (float& m : mean) {
      reader.ReadFloat(&m);
      if (!std::isfinite(m)) return Status::Corruption("codec params: non-finite mean");
    }
    static_cast<BinaryCodec*>(codec->get())->Restore(std::move(mean));
    return codec;
  }
  if (static_cast<Quantization>(quantization) != Quantization::kInt8) {
    if (range != 0.0f || has_mean[0] != 0 || reader.remaining() != 0) {
      return Status::Corruption("codec params: trailing or unexpected fields");
    }
    return codec;
  }
  if (!(range > 0.0f) || !std::isfinite(range)) return Status::Corruption("codec params: bad range");
  if (has_mean[0] != 1 || reader.remaining() != size_t{dim} * sizeof(float)) {
    return Status::Corruption("codec params: bad int8 mean");
  }
  std::vector<float> mean(dim);
  for (float& m : mean) {
    reader.ReadFloat(&m);
    if (!std::isfinite(m)) return Status::Corruption("codec params: non-finite mean");
  }
  static_cast<Int8Codec*>(codec->get())->Restore(range, std::move(mean));
  return codec;
}

}  // namespace quarry::index::dense
