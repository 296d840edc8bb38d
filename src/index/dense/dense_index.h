// DenseIndex: approximate nearest-neighbour search over dense vectors, an
// HNSW graph over quantised codes with exact rescoring against the original
// float vectors.
//
// Parts (DESIGN.md habit 3): the graph (hnsw.h) knows only slots and a
// distance callable; the codec (codec.h) owns the code format and distances;
// the kernels (distance.h) are chosen at start-up. DenseIndex owns the id <->
// slot map, the codes, the originals and the snapshot format.
//
// Ids are caller-chosen 64-bit point ids. Add() of an existing id replaces its
// vector. Remove() tombstones: searches skip it; Compact() rebuilds the graph
// links around deleted slots when tombstones pile up.
//
// Thread-safety: Search/SearchExact may run concurrently with each other and
// with Add/Remove (fine-grained locks in the graph); Compact, Save and
// Train need exclusive access.
#ifndef QUARRY_INDEX_DENSE_DENSE_INDEX_H_
#define QUARRY_INDEX_DENSE_DENSE_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "index/dense/codec.h"
#include "quarry/status.h"

namespace quarry::index::dense {

struct HnswParams {
  uint32_t m = 16;                 // links per node (2·m on layer 0)
  uint32_t ef_construction = 128;
  uint32_t ef_search = 64;         // default; per query override in SearchParams
  uint64_t seed = 42;
};

struct DenseIndexOptions {
  size_t dim = 0;
  Metric metric = Metric::kCosine;
  Quantization quantization = Quantization::kFloat32;
  float int8_quantile = 0.99f;
  HnswParams hnsw;
  // Below this many live vectors, Search answers exactly (flat scan).
  size_t exact_below = 1000;
  // kInt8 without an explicit Train(): vectors are buffered (searched
  // exactly) until this many were added, then the codec is trained on them
  // and they enter the graph. AddBatch trains on its first rows instead.
  size_t train_sample = 4096;
};

struct DenseHit {
  uint64_t id = 0;
  float score = 0.0f;  // similarity: -L2² for L2, inner product for dot/cosine
};

struct DenseSearchParams {
  size_t k = 10;
  size_t ef = 0;              // 0 = options.hnsw.ef_search; raised to k if lower
  bool exact = false;         // flat scan over originals (the recall reference)
  bool rescore = true;        // re-rank candidates by exact distance to originals
  float oversampling = 1.0f;  // candidates fetched = ceil(k · oversampling) before rescoring
  // Only ids for which this returns true may be returned. Applied during the
  // graph walk; very selective filters fall back to an exact scan of allowed ids.
  const std::function<bool(uint64_t id)>* filter = nullptr;
};

struct DenseIndexStats {
  uint64_t vectors = 0;       // live
  uint64_t tombstones = 0;
  uint64_t code_bytes = 0;    // quantised codes in memory
  uint64_t graph_bytes = 0;   // links
  uint64_t original_bytes = 0;  // float originals (mmap'd after Load)
  uint64_t memory_bytes = 0;  // heap use (excludes mmap'd files)
};

class DenseIndex {
 public:
  static Result<std::unique_ptr<DenseIndex>> Create(const DenseIndexOptions& options);
  virtual ~DenseIndex() = default;

  virtual const DenseIndexOptions& options() const = 0;

  // Learns the int8 range from a sample (n × dim floats); no-op for others.
  // Call before the first Add for best accuracy; otherwise the first
  // `train_sample` vectors added are used (documented in the .cc).
  virtual Status Train(std::span<const float> sample) = 0;

  // InvalidArgument on a wrong dimension or a non-finite value.
  virtual Status Add(uint64_t id, std::span<const float> vector) = 0;
  // Adds n vectors (row major) using `threads` threads.
  virtual Status AddBatch(std::span<const uint64_t> ids, std::span<const float> vectors,
                          size_t threads) = 0;
  virtual bool Remove(uint64_t id) = 0;
  virtual bool Contains(uint64_t id) const = 0;

  virtual Result<std::vector<DenseHit>> Search(std::span<const float> query,
                                               const DenseSearchParams& params) const = 0;
  virtual DenseIndexStats Stats() const = 0;
  virtual Status Compact() = 0;

  // Writes graph + codes + originals into `dir` (files with magic, version,
  // checksum and the covered sequence `seq`); Load maps them back without
  // rebuilding the graph; originals stay memory-mapped.
  virtual Status Save(const std::filesystem::path& dir, uint64_t seq) const = 0;
  static Result<std::unique_ptr<DenseIndex>> Load(const std::filesystem::path& dir,
                                                  uint64_t* seq);
};

}  // namespace quarry::index::dense

#endif  // QUARRY_INDEX_DENSE_DENSE_INDEX_H_
