// Vector codecs: how dense vectors are stored for the graph walk, and the
// distance between a query and a stored code.
//
//   kFloat32  4·dim bytes, exact distances.
//   kInt8     dim bytes + 8 (a float correction and an int32 offset); scalar
//             quantisation of the mean-centred vector with one global range
//             learned from a sample, clipped at the `quantile` of absolute
//             values (like Qdrant's `quantile`, default 0.99); dim <= 32767.
//             codec.cc documents the estimate and the code layout.
//   kBinary   dim/8 bytes (rounded up), 1 bit per dimension (x > 0); the
//             distance is the Hamming distance, useful only with rescoring.
//
// Distances are "smaller is closer" for every metric: L2 = squared euclidean;
// dot and cosine = -inner product (cosine vectors are normalised on encode).
//
// Thread-safety: a trained codec is immutable; its const methods may be called
// concurrently.
#ifndef QUARRY_INDEX_DENSE_CODEC_H_
#define QUARRY_INDEX_DENSE_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "index/dense/distance.h"
#include "quarry/status.h"

namespace quarry::index::dense {

enum class Metric { kL2, kDot, kCosine };
enum class Quantization { kFloat32, kInt8, kBinary };

std::string_view MetricName(Metric metric);
std::string_view QuantizationName(Quantization quantization);

// A query prepared for one codec (normalised, quantised, packed): built once
// per search, then compared with many codes.
class PreparedQuery {
 public:
  virtual ~PreparedQuery() = default;
  // Distance to the stored code (REQUIRES: code of code_size() bytes).
  virtual float Distance(const uint8_t* code) const = 0;
};

class VectorCodec {
 public:
  virtual ~VectorCodec() = default;

  // For kInt8: learns the range from `sample` (n vectors of dim floats, row
  // major); others ignore it. REQUIRES: before Encode. A codec for kInt8 with
  // no training uses the range [-1, 1].
  static Result<std::unique_ptr<VectorCodec>> Create(size_t dim, Metric metric,
                                                     Quantization quantization,
                                                     float int8_quantile = 0.99f);
  virtual void Train(std::span<const float> sample) = 0;

  virtual size_t dim() const = 0;
  virtual Metric metric() const = 0;
  virtual Quantization quantization() const = 0;
  virtual size_t code_size() const = 0;

  // Writes code_size() bytes for `vector` (dim floats).
  virtual void Encode(const float* vector, uint8_t* code) const = 0;
  virtual std::unique_ptr<PreparedQuery> Prepare(const float* query) const = 0;
  // Distance between two stored codes (graph construction).
  virtual float CodeDistance(const uint8_t* a, const uint8_t* b) const = 0;
  // Exact distance between a query and an original float vector (rescoring),
  // with the same convention as above.
  float ExactDistance(const float* query, const float* vector) const;

  // Codec parameters (trained range etc.) for snapshots; Deserialize
  // validates and returns Corruption on bad bytes.
  virtual std::string SerializeParams() const = 0;
  static Result<std::unique_ptr<VectorCodec>> Deserialize(std::string_view bytes);
};

}  // namespace quarry::index::dense

#endif  // QUARRY_INDEX_DENSE_CODEC_H_
