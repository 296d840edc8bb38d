// Anchors for quarry_ann_bench (see ann_anchors.h). This translation unit alone
// is compiled with -O3 -march=native (bench/CMakeLists.txt): hnswlib picks its
// SIMD kernels at compile time (__AVX512F__ / __AVX__), so that is how it is
// built by its users; the FAISS library itself is the Debian build, linked as is.
#include "ann_anchors.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/index_io.h>
#include <faiss/utils/utils.h>
#include <hnswlib/hnswlib.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

namespace quarry::bench {
namespace {

// ---- hnswlib -----------------------------------------------------------------

class HnswlibAnchor : public AnnAnchor {
 public:
  explicit HnswlibAnchor(const AnchorSpec& spec) : spec_(spec) {
    if (spec.metric == AnchorMetric::kL2) {
      space_ = std::make_unique<hnswlib::L2Space>(spec.dim);
    } else {
      space_ = std::make_unique<hnswlib::InnerProductSpace>(spec.dim);
    }
  }

  std::string Init() {
    try {
      index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
          space_.get(), spec_.max_elements, spec_.m, spec_.ef_construction, spec_.seed);
    } catch (const std::exception& e) {
      return std::string("hnswlib: ") + e.what();
    }
    return "";
  }

  std::string Load(const std::string& path) {
    try {
      index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), path, false,
                                                                 spec_.max_elements);
    } catch (const std::exception& e) {
      return std::string("hnswlib load: ") + e.what();
    }
    return "";
  }

  std::string Train(const float*, size_t) override { return ""; }

  // As hnswlib's Python binding (ParallelFor): threads pull rows from a shared
  // counter and call addPoint concurrently; the graph locks per node.
  std::string Add(const float* rows, size_t n, uint64_t first_label, int threads) override {
    std::atomic<size_t> next{0};
    std::mutex error_mu;
    std::string error;
    auto work = [&] {
      for (size_t row = next++; row < n; row = next++) {
        try {
          index_->addPoint(rows + row * spec_.dim, first_label + row);
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(error_mu);
          if (error.empty()) error = std::string("hnswlib addPoint: ") + e.what();
          next = n;
        }
      }
    };
    std::vector<std::thread> workers;
    for (int thread_idx = 1; thread_idx < threads; ++thread_idx) workers.emplace_back(work);
    work();
    for (std::thread& worker : workers) worker.join();
    return error;
  }

  void SetEf(size_t ef) override { index_->setEf(ef); }

  void Search(const float* query, size_t k, int64_t* labels) const override {
    auto heap = index_->searchKnn(query, k);  // max-heap: farthest on top
    std::fill(labels, labels + k, -1);
    size_t count = heap.size();
    while (!heap.empty()) {
      labels[--count] = static_cast<int64_t>(heap.top().second);
      heap.pop();
    }
  }

  // Level-0 block (links + vector + label per element, what hnswlib mallocs
  // for every element), upper-level link lists, and the per-element side
  // arrays (level, link-list pointer, one std::mutex lock); the label map is
  // estimated at 8 bytes per bucket + 32 per node.
  uint64_t MemoryBytes() const override {
    const hnswlib::HierarchicalNSW<float>& index = *index_;
    uint64_t bytes = static_cast<uint64_t>(index.max_elements_) * index.size_data_per_element_;
    for (size_t element = 0; element < index.cur_element_count; ++element) {
      const int level = index.element_levels_[element];
      if (level > 0) bytes += static_cast<uint64_t>(level) * index.size_links_per_element_;
    }
    bytes += static_cast<uint64_t>(index.max_elements_) *
             (sizeof(int) + sizeof(void*) + sizeof(std::mutex));
    bytes += index.label_lookup_.bucket_count() * sizeof(void*) + index.label_lookup_.size() * 32;
    return bytes;
  }

  std::string Save(const std::string& path) const override {
    try {
      index_->saveIndex(path);
    } catch (const std::exception& e) {
      return std::string("hnswlib save: ") + e.what();
    }
    return "";
  }

 private:
  AnchorSpec spec_;
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index_;
};

// ---- FAISS -------------------------------------------------------------------

class FaissAnchor : public AnnAnchor {
 public:
  explicit FaissAnchor(const AnchorSpec& spec) : spec_(spec) {}

  std::string Init() {
    const faiss::MetricType metric =
        spec_.metric == AnchorMetric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
    const int dim = static_cast<int>(spec_.dim);
    const int m = static_cast<int>(spec_.m);
    try {
      if (spec_.codec == "flat") {
        index_ = std::make_unique<faiss::IndexHNSWFlat>(dim, m, metric);
      } else if (spec_.codec == "sq8") {
        index_ =
            std::make_unique<faiss::IndexHNSWSQ>(dim, faiss::ScalarQuantizer::QT_8bit, m, metric);
      } else {
        return "faiss: unknown codec " + spec_.codec;
      }
      index_->hnsw.efConstruction = static_cast<int>(spec_.ef_construction);
      index_->hnsw.rng = faiss::RandomGenerator(static_cast<int64_t>(spec_.seed));
    } catch (const std::exception& e) {
      return std::string("faiss: ") + e.what();
    }
    return "";
  }

  std::string Load(const std::string& path) {
    try {
      std::unique_ptr<faiss::Index> loaded(faiss::read_index(path.c_str()));
      auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(loaded.get());
      if (hnsw == nullptr) return "faiss load: not an IndexHNSW: " + path;
      loaded.release();
      index_.reset(hnsw);
    } catch (const std::exception& e) {
      return std::string("faiss load: ") + e.what();
    }
    return "";
  }

  // Scalar quantiser: per-dimension min/max of the sample (QT_8bit, RS_minmax).
  std::string Train(const float* rows, size_t n) override {
    try {
      omp_set_num_threads(2);
      index_->train(static_cast<faiss::Index::idx_t>(n), rows);
    } catch (const std::exception& e) {
      return std::string("faiss train: ") + e.what();
    }
    return "";
  }

  // IndexHNSW::add parallelises inside with OpenMP.
  std::string Add(const float* rows, size_t n, uint64_t first_label, int threads) override {
    if (first_label != static_cast<uint64_t>(index_->ntotal)) {
      return "faiss: labels must continue from ntotal";
    }
    try {
      omp_set_num_threads(threads);
      index_->add(static_cast<faiss::Index::idx_t>(n), rows);
    } catch (const std::exception& e) {
      return std::string("faiss add: ") + e.what();
    }
    omp_set_num_threads(1);  // queries are single-threaded
    return "";
  }

  void SetEf(size_t ef) override {
    omp_set_num_threads(1);
    index_->hnsw.efSearch = static_cast<int>(ef);
  }

  // One query per call, as the other engines are timed.
  void Search(const float* query, size_t k, int64_t* labels) const override {
    distances_.resize(k);
    index_->search(1, query, static_cast<faiss::Index::idx_t>(k), distances_.data(), labels);
  }

  // Codes of the storage index + HNSW neighbour table, levels and offsets.
  uint64_t MemoryBytes() const override {
    uint64_t bytes = 0;
    if (const auto* codes = dynamic_cast<const faiss::IndexFlatCodes*>(index_->storage)) {
      bytes += codes->codes.capacity();
    }
    const faiss::HNSW& hnsw = index_->hnsw;
    bytes += hnsw.neighbors.capacity() * sizeof(faiss::HNSW::storage_idx_t) +
             hnsw.levels.capacity() * sizeof(int) + hnsw.offsets.capacity() * sizeof(size_t);
    return bytes;
  }

  std::string Save(const std::string& path) const override {
    try {
      faiss::write_index(index_.get(), path.c_str());
    } catch (const std::exception& e) {
      return std::string("faiss save: ") + e.what();
    }
    return "";
  }

 private:
  AnchorSpec spec_;
  std::unique_ptr<faiss::IndexHNSW> index_;
  mutable std::vector<float> distances_;
};

// ---- exact distances -----------------------------------------------------------

constexpr size_t kLanes = 16;

inline float ReduceLanes(float* acc) {
  for (size_t width = kLanes / 2; width > 0; width /= 2) {
    for (size_t lane = 0; lane < width; ++lane) acc[lane] += acc[lane + width];
  }
  return acc[0];
}

inline float L2Sq(const float* a, const float* b, size_t dim) {
  float acc[kLanes] = {};
  size_t idx = 0;
  for (; idx + kLanes <= dim; idx += kLanes) {
    for (size_t lane = 0; lane < kLanes; ++lane) {
      const float diff = a[idx + lane] - b[idx + lane];
      acc[lane] += diff * diff;
    }
  }
  for (size_t lane = 0; idx < dim; ++idx, ++lane) {
    const float diff = a[idx] - b[idx];
    acc[lane] += diff * diff;
  }
  return ReduceLanes(acc);
}

inline float NegDot(const float* a, const float* b, size_t dim) {
  float acc[kLanes] = {};
  size_t idx = 0;
  for (; idx + kLanes <= dim; idx += kLanes) {
    for (size_t lane = 0; lane < kLanes; ++lane) acc[lane] += a[idx + lane] * b[idx + lane];
  }
  for (size_t lane = 0; idx < dim; ++idx, ++lane) acc[lane] += a[idx] * b[idx];
  return -ReduceLanes(acc);
}

// The k smallest (distance, id) pairs seen so far, sorted ascending.
class TopK {
 public:
  explicit TopK(size_t k) : k_(k) { entries_.reserve(k + 1); }
  float worst() const {
    return entries_.size() < k_ ? std::numeric_limits<float>::infinity() : entries_.back().first;
  }
  // Rows arrive in increasing id order, so an equal distance never displaces.
  void Push(float distance, uint32_t id) {
    if (entries_.size() == k_ && !(distance < entries_.back().first)) return;
    auto pos = std::upper_bound(entries_.begin(), entries_.end(), std::make_pair(distance, id));
    entries_.insert(pos, {distance, id});
    if (entries_.size() > k_) entries_.pop_back();
  }
  const std::vector<std::pair<float, uint32_t>>& entries() const { return entries_; }

 private:
  size_t k_;
  std::vector<std::pair<float, uint32_t>> entries_;
};

template <typename DistanceFn>
void GroundTruthWith(DistanceFn distance, const float* base, size_t n, const float* queries,
                     size_t num_queries, size_t dim, size_t k, int threads, uint32_t* ids,
                     float* distances) {
  constexpr size_t kQueryBlock = 8;
  // About 256 KB of rows per block: they stay in L2 while a query block passes.
  const size_t row_block = std::max<size_t>(16, (256 * 1024) / (dim * sizeof(float)));
  const size_t num_blocks = (num_queries + kQueryBlock - 1) / kQueryBlock;
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t block = next++; block < num_blocks; block = next++) {
      const size_t q_begin = block * kQueryBlock;
      const size_t q_end = std::min(num_queries, q_begin + kQueryBlock);
      std::vector<TopK> tops(q_end - q_begin, TopK(k));
      for (size_t r_begin = 0; r_begin < n; r_begin += row_block) {
        const size_t r_end = std::min(n, r_begin + row_block);
        for (size_t query_idx = q_begin; query_idx < q_end; ++query_idx) {
          const float* query = queries + query_idx * dim;
          TopK& top = tops[query_idx - q_begin];
          float worst = top.worst();
          for (size_t row = r_begin; row < r_end; ++row) {
            const float d = distance(query, base + row * dim, dim);
            if (d < worst) {
              top.Push(d, static_cast<uint32_t>(row));
              worst = top.worst();
            }
          }
        }
      }
      for (size_t query_idx = q_begin; query_idx < q_end; ++query_idx) {
        const auto& entries = tops[query_idx - q_begin].entries();
        for (size_t rank = 0; rank < k; ++rank) {
          const bool have = rank < entries.size();
          ids[query_idx * k + rank] = have ? entries[rank].second : UINT32_MAX;
          distances[query_idx * k + rank] =
              have ? entries[rank].first : std::numeric_limits<float>::infinity();
        }
      }
    }
  };
  std::vector<std::thread> workers;
  for (int thread_idx = 1; thread_idx < threads; ++thread_idx) workers.emplace_back(work);
  work();
  for (std::thread& worker : workers) worker.join();
}

}  // namespace

std::unique_ptr<AnnAnchor> CreateAnchor(const AnchorSpec& spec, std::string* error) {
  if (spec.engine == "hnswlib") {
    if (spec.codec != "float32") {
      *error = "hnswlib: codec must be float32";
      return nullptr;
    }
    auto anchor = std::make_unique<HnswlibAnchor>(spec);
    *error = anchor->Init();
    return error->empty() ? std::move(anchor) : nullptr;
  }
  if (spec.engine == "faiss") {
    auto anchor = std::make_unique<FaissAnchor>(spec);
    *error = anchor->Init();
    return error->empty() ? std::move(anchor) : nullptr;
  }
  *error = "unknown anchor engine " + spec.engine;
  return nullptr;
}

std::unique_ptr<AnnAnchor> LoadAnchor(const AnchorSpec& spec, const std::string& path,
                                      std::string* error) {
  if (spec.engine == "hnswlib") {
    auto anchor = std::make_unique<HnswlibAnchor>(spec);
    *error = anchor->Load(path);
    return error->empty() ? std::move(anchor) : nullptr;
  }
  if (spec.engine == "faiss") {
    auto anchor = std::make_unique<FaissAnchor>(spec);
    *error = anchor->Load(path);
    return error->empty() ? std::move(anchor) : nullptr;
  }
  *error = "unknown anchor engine " + spec.engine;
  return nullptr;
}

std::string AnchorBuildInfo() {
  std::string hnswlib_simd;
#if defined(__AVX512F__)
  hnswlib_simd = ::AVX512Capable() ? "avx512" : "avx";
#elif defined(__AVX__)
  hnswlib_simd = "avx";
#else
  hnswlib_simd = "sse";
#endif
  std::string faiss_options = faiss::get_compile_options();
  while (!faiss_options.empty() && faiss_options.back() == ' ') faiss_options.pop_back();
  return "hnswlib 0.6.2 (header-only, -O3 -march=native, kernel " + hnswlib_simd +
         "); faiss 1.7.3 (Debian libfaiss-dev static library, compile options \"" + faiss_options +
         "\", OpenMP)";
}

float ExactDistance(const float* a, const float* b, size_t dim, AnchorMetric metric) {
  return metric == AnchorMetric::kL2 ? L2Sq(a, b, dim) : NegDot(a, b, dim);
}

void GroundTruth(const float* base, size_t n, const float* queries, size_t num_queries, size_t dim,
                 AnchorMetric metric, size_t k, int threads, uint32_t* ids, float* distances) {
  if (metric == AnchorMetric::kL2) {
    GroundTruthWith(L2Sq, base, n, queries, num_queries, dim, k, threads, ids, distances);
  } else {
    GroundTruthWith(NegDot, base, n, queries, num_queries, dim, k, threads, ids, distances);
  }
}

}  // namespace quarry::bench
