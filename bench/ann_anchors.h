// Anchors for quarry_ann_bench: hnswlib 0.6.2 and FAISS 1.7.3 behind one small
// interface, plus the brute-force ground truth.
//
// Only bench/ann_anchors.cc sees the third-party headers, and only that file is
// compiled with -O3 -march=native (how both projects are meant to be built);
// Quarry's own code is built with the project's flags and dispatches kernels at
// run time. This header therefore uses nothing but the standard library.
//
// Errors: third-party exceptions are caught here, at the boundary, and come back
// as a non-empty message (empty string = success).
//
// Thread-safety: an AnnAnchor is used from one thread, except that Add() itself
// runs `threads` threads.
#ifndef QUARRY_BENCH_ANN_ANCHORS_H_
#define QUARRY_BENCH_ANN_ANCHORS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace quarry::bench {

// kL2: squared euclidean. kInnerProduct: larger is closer; callers pass
// normalised vectors for cosine.
enum class AnchorMetric { kL2, kInnerProduct };

struct AnchorSpec {
  std::string engine;  // "hnswlib" | "faiss"
  std::string codec;   // hnswlib: "float32"; faiss: "flat" | "sq8"
  size_t dim = 0;
  AnchorMetric metric = AnchorMetric::kL2;
  size_t m = 16;
  size_t ef_construction = 128;
  uint64_t seed = 42;
  size_t max_elements = 0;  // hnswlib preallocates
};

class AnnAnchor {
 public:
  virtual ~AnnAnchor() = default;
  // Learns quantiser ranges from n rows (faiss sq8); no-op for the others.
  virtual std::string Train(const float* rows, size_t n) = 0;
  // Adds n rows with labels first_label .. first_label + n - 1.
  virtual std::string Add(const float* rows, size_t n, uint64_t first_label, int threads) = 0;
  virtual void SetEf(size_t ef) = 0;
  // Top k labels into `labels` (k entries, -1 when fewer were found), closest
  // first. Single-threaded.
  virtual void Search(const float* query, size_t k, int64_t* labels) const = 0;
  // Heap bytes of the index by the engine's own layout (see the .cc).
  virtual uint64_t MemoryBytes() const = 0;
  virtual std::string Save(const std::string& path) const = 0;
};

// Never null on success; on failure *error is set and nullptr returned.
std::unique_ptr<AnnAnchor> CreateAnchor(const AnchorSpec& spec, std::string* error);
std::unique_ptr<AnnAnchor> LoadAnchor(const AnchorSpec& spec, const std::string& path,
                                      std::string* error);

// Describes how the anchors were built (compiler flags, SIMD paths).
std::string AnchorBuildInfo();

// Exact distance in the ground truth's convention: smaller is closer
// (L2: squared euclidean; inner product: the negated product). Summation order
// is fixed (16 float lanes, then a fixed tree), so GroundTruth() and recall
// checks agree to the last bit.
float ExactDistance(const float* a, const float* b, size_t dim, AnchorMetric metric);

// Brute-force top k of each query over all rows: ids (uint32, n < 2^32) and
// distances (ExactDistance), nearest first; ties broken by the smaller id.
// Blocked over rows and queries, `threads` threads over query blocks.
void GroundTruth(const float* base, size_t n, const float* queries, size_t num_queries, size_t dim,
                 AnchorMetric metric, size_t k, int threads, uint32_t* ids, float* distances);

}  // namespace quarry::bench

#endif  // QUARRY_BENCH_ANN_ANCHORS_H_
