#include "index/dense/dense_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/hash.h"

namespace quarry::index::dense {
namespace {

namespace fs = std::filesystem;

// Clustered Gaussian data; the centres depend only on `centre_seed`, so
// queries drawn with another `seed` land near the same clusters.
std::vector<float> Clustered(size_t n, size_t dim, uint64_t seed, uint64_t centre_seed = 99) {
  constexpr size_t kClusters = 32;
  std::mt19937_64 centre_rng(centre_seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> centres(kClusters * dim);
  for (float& x : centres) x = normal(centre_rng) * 2.0f;
  std::mt19937_64 rng(seed);
  std::vector<float> data(n * dim);
  for (size_t row = 0; row < n; ++row) {
    const size_t c = rng() % kClusters;
    for (size_t d = 0; d < dim; ++d) data[row * dim + d] = centres[c * dim + d] + normal(rng);
  }
  return data;
}

std::vector<uint64_t> Ids(size_t n, uint64_t base = 1000) {
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = base + i * 7;
  return ids;
}

double RecallOf(const std::vector<DenseHit>& got, const std::vector<DenseHit>& truth) {
  if (truth.empty()) return 1.0;
  std::set<uint64_t> want;
  for (const DenseHit& h : truth) want.insert(h.id);
  size_t hits = 0;
  for (const DenseHit& h : got) hits += want.count(h.id);
  return static_cast<double>(hits) / static_cast<double>(truth.size());
}

std::vector<DenseHit> MustSearch(const DenseIndex& index, std::span<const float> query,
                                 DenseSearchParams params) {
  auto result = index.Search(query, params);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? *result : std::vector<DenseHit>{};
}

// Mean recall@k of the approximate search against the exact one (habit 4).
double MeanRecall(const DenseIndex& index, const std::vector<float>& queries,
                  DenseSearchParams params) {
  const size_t dim = index.options().dim;
  const size_t nq = queries.size() / dim;
  double sum = 0;
  for (size_t q = 0; q < nq; ++q) {
    std::span<const float> query(queries.data() + q * dim, dim);
    DenseSearchParams exact = params;
    exact.exact = true;
    sum += RecallOf(MustSearch(index, query, params), MustSearch(index, query, exact));
  }
  return sum / static_cast<double>(nq);
}

DenseIndexOptions Options(size_t dim, Metric metric,
                          Quantization quantization = Quantization::kFloat32) {
  DenseIndexOptions options;
  options.dim = dim;
  options.metric = metric;
  options.quantization = quantization;
  return options;
}

std::unique_ptr<DenseIndex> MustCreate(const DenseIndexOptions& options) {
  auto index = DenseIndex::Create(options);
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  return index.ok() ? std::move(*index) : nullptr;
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("quarry_dense_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline std::atomic<int> counter_{0};
  fs::path path_;
};

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void WriteAll(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// --- recall across metrics and codecs -------------------------------------------

// int8 and binary lose accuracy to quantisation; rescoring a larger
// candidate set (oversampling) recovers it. Binary codes need many
// dimensions to say anything (1 bit each), hence the 256-d case.
struct CodecCase {
  Metric metric;
  Quantization quantization;
  float oversampling;
  size_t ef;
  size_t dim = 48;
  size_t n = 8000;
  double min_recall = 0.95;
};

class DenseRecallTest : public ::testing::TestWithParam<CodecCase> {};

TEST_P(DenseRecallTest, RecallAt10AgainstExact) {
  const CodecCase c = GetParam();
  const size_t kDim = c.dim, kN = c.n, kQueries = 60;
  DenseIndexOptions options;
  options.dim = kDim;
  options.metric = c.metric;
  options.quantization = c.quantization;
  options.hnsw.m = 12;
  options.hnsw.ef_construction = 80;
  auto index = MustCreate(options);
  const auto data = Clustered(kN, kDim, 1);
  const auto ids = Ids(kN);
  ASSERT_TRUE(index->AddBatch(ids, data, 2).ok());
  EXPECT_EQ(index->Stats().vectors, kN);
  DenseSearchParams params;
  params.k = 10;
  params.ef = c.ef;
  params.oversampling = c.oversampling;
  const double recall = MeanRecall(*index, Clustered(kQueries, kDim, 2), params);
  EXPECT_GE(recall, c.min_recall) << MetricName(c.metric) << "/"
                                  << QuantizationName(c.quantization);
}

INSTANTIATE_TEST_SUITE_P(
    Codecs, DenseRecallTest,
    ::testing::Values(CodecCase{Metric::kL2, Quantization::kFloat32, 1.0f, 64},
                      CodecCase{Metric::kCosine, Quantization::kFloat32, 1.0f, 64},
                      CodecCase{Metric::kDot, Quantization::kFloat32, 1.0f, 64},
                      CodecCase{Metric::kL2, Quantization::kInt8, 2.0f, 64},
                      CodecCase{Metric::kCosine, Quantization::kInt8, 4.0f, 64},
                      CodecCase{Metric::kDot, Quantization::kInt8, 4.0f, 64},
                      CodecCase{Metric::kCosine, Quantization::kBinary, 10.0f, 100, 256, 4000,
                                0.9}));

// --- exact path against a reference written here ---------------------------------

TEST(DenseIndexTest, ExactSearchMatchesBruteForce) {
  constexpr size_t kDim = 16, kN = 500;
  auto index = MustCreate(Options(kDim, Metric::kL2));
  const auto data = Clustered(kN, kDim, 3);
  for (size_t i = 0; i < kN; ++i) {
    ASSERT_TRUE(index->Add(i, std::span<const float>(data.data() + i * kDim, kDim)).ok());
  }
  const auto query = Clustered(1, kDim, 4);
  std::vector<std::pair<float, uint64_t>> all;
  for (size_t i = 0; i < kN; ++i) {
    float d = 0;
    for (size_t j = 0; j < kDim; ++j)
      d += (query[j] - data[i * kDim + j]) * (query[j] - data[i * kDim + j]);
    all.push_back({d, i});
  }
  std::sort(all.begin(), all.end());
  const auto hits = MustSearch(*index, query, {.k = 5, .exact = true});
  ASSERT_EQ(hits.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(hits[i].id, all[i].second);
    EXPECT_NEAR(hits[i].score, -all[i].first, 1e-3f * (1 + all[i].first));
  }
  // Below exact_below (1000) the default search is exact as well.
  const auto approx = MustSearch(*index, query, {.k = 5});
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(approx[i].id, hits[i].id);
}

// --- concurrency ------------------------------------------------------------------

TEST(DenseIndexTest, ConcurrentAddAndSearch) {
  constexpr size_t kDim = 32, kN = 6000;
  DenseIndexOptions options = Options(kDim, Metric::kL2, Quantization::kInt8);
  options.hnsw.m = 12;
  options.hnsw.ef_construction = 64;
  options.exact_below = 200;
  auto index = MustCreate(options);
  const auto data = Clustered(kN, kDim, 5);
  ASSERT_TRUE(index->Train(std::span<const float>(data.data(), 1000 * kDim)).ok());
  const auto queries = Clustered(50, kDim, 6);
  std::atomic<size_t> next{0};
  std::atomic<bool> done{false};
  std::atomic<size_t> searches{0};
  std::vector<std::thread> writers, readers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&] {
      for (size_t i = next++; i < kN; i = next++) {
        ASSERT_TRUE(index->Add(i, std::span<const float>(data.data() + i * kDim, kDim)).ok());
        if (i % 97 == 0) index->Remove(i);  // deletes while others search
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      size_t q = static_cast<size_t>(t);
      while (!done.load()) {
        std::span<const float> query(queries.data() + (q % 50) * kDim, kDim);
        auto hits = index->Search(query, {.k = 10, .ef = 32});
        ASSERT_TRUE(hits.ok());
        for (const DenseHit& h : *hits) ASSERT_LT(h.id, kN);
        ++q;
        ++searches;
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_GT(searches.load(), 0u);
  const auto stats = index->Stats();
  EXPECT_EQ(stats.vectors, kN - (kN + 96) / 97);
  for (size_t i = 0; i < kN; ++i) ASSERT_EQ(index->Contains(i), i % 97 != 0) << i;
  EXPECT_GE(MeanRecall(*index, queries, {.k = 10, .ef = 64, .oversampling = 4.0f}), 0.95);
}

// --- updates, deletes, compaction ---------------------------------------------------

TEST(DenseIndexTest, AddOfExistingIdReplacesItsVector) {
  constexpr size_t kDim = 24, kN = 3000;
  DenseIndexOptions options = Options(kDim, Metric::kL2);
  options.exact_below = 100;
  auto index = MustCreate(options);
  const auto data = Clustered(kN, kDim, 7);
  ASSERT_TRUE(index->AddBatch(Ids(kN, 0), data, 2).ok());
  // Move id 0 onto the position of the far-away query vector.
  std::vector<float> moved(kDim, 25.0f);
  ASSERT_TRUE(index->Add(0, moved).ok());
  EXPECT_EQ(index->Stats().vectors, kN);
  EXPECT_EQ(index->Stats().tombstones, 1u);
  auto hits = MustSearch(*index, moved, {.k = 3});
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].id, 0u);
  EXPECT_NEAR(hits[0].score, 0.0f, 1e-4f);
  // Its old position no longer finds it.
  hits = MustSearch(*index, std::span<const float>(data.data(), kDim), {.k = 10});
  for (const DenseHit& h : hits) EXPECT_NE(h.id, 0u);
}

TEST(DenseIndexTest, DeletesAreNeverReturnedAndCompactKeepsRecall) {
  constexpr size_t kDim = 32, kN = 6000;
  DenseIndexOptions options = Options(kDim, Metric::kL2, Quantization::kInt8);
  options.hnsw.m = 12;
  options.hnsw.ef_construction = 80;
  auto index = MustCreate(options);
  const auto data = Clustered(kN, kDim, 8);
  const auto ids = Ids(kN);
  ASSERT_TRUE(index->AddBatch(ids, data, 2).ok());
  std::set<uint64_t> removed;
  std::mt19937 rng(3);
  while (removed.size() < kN * 3 / 10) {
    const uint64_t id = ids[rng() % kN];
    if (removed.insert(id).second) {
      ASSERT_TRUE(index->Remove(id));
    }
  }
  EXPECT_FALSE(index->Remove(*removed.begin()));
  EXPECT_FALSE(index->Contains(*removed.begin()));
  const auto queries = Clustered(60, kDim, 9);
  const DenseSearchParams params{.k = 10, .ef = 64, .oversampling = 2.0f};
  for (size_t q = 0; q < 60; ++q) {
    for (const DenseHit& h :
         MustSearch(*index, std::span(queries.data() + q * kDim, kDim), params)) {
      ASSERT_EQ(removed.count(h.id), 0u);
    }
  }
  EXPECT_GE(MeanRecall(*index, queries, params), 0.93);
  EXPECT_EQ(index->Stats().tombstones, removed.size());

  ASSERT_TRUE(index->Compact().ok());
  const auto stats = index->Stats();
  EXPECT_EQ(stats.tombstones, 0u);
  EXPECT_EQ(stats.vectors, kN - removed.size());
  EXPECT_GE(MeanRecall(*index, queries, params), 0.95);
  for (size_t q = 0; q < 60; ++q) {
    for (const DenseHit& h :
         MustSearch(*index, std::span(queries.data() + q * kDim, kDim), params)) {
      ASSERT_EQ(removed.count(h.id), 0u);
    }
  }
  // The index keeps working after compaction: re-add the removed ids.
  for (size_t i = 0; i < kN; ++i) {
    if (removed.count(ids[i])) {
      ASSERT_TRUE(index->Add(ids[i], std::span(data.data() + i * kDim, kDim)).ok());
    }
  }
  EXPECT_EQ(index->Stats().vectors, kN);
  EXPECT_GE(MeanRecall(*index, queries, params), 0.95);
}

// --- filters ----------------------------------------------------------------------

TEST(DenseIndexTest, FilteredSearchAtSeveralSelectivities) {
  constexpr size_t kDim = 32, kN = 10000;
  DenseIndexOptions options = Options(kDim, Metric::kCosine, Quantization::kInt8);
  options.hnsw.m = 12;
  options.hnsw.ef_construction = 80;
  auto index = MustCreate(options);
  const auto data = Clustered(kN, kDim, 10);
  ASSERT_TRUE(index->AddBatch(Ids(kN, 0), data, 2).ok());
  const auto queries = Clustered(40, kDim, 11);
  // Ids 0, 7, 14, ...: pick by a hash so the allowed set is spread out.
  for (const double selectivity : {0.001, 0.01, 0.1, 0.5}) {
    const uint64_t cut = static_cast<uint64_t>(selectivity * 1e6);
    const std::function<bool(uint64_t)> filter = [cut](uint64_t id) {
      return Mix64(id) % 1000000 < cut;
    };
    DenseSearchParams params{.k = 10, .ef = 64, .oversampling = 4.0f, .filter = &filter};
    DenseSearchParams exact = params;
    exact.exact = true;
    double recall = 0;
    for (size_t q = 0; q < 40; ++q) {
      std::span<const float> query(queries.data() + q * kDim, kDim);
      const auto got = MustSearch(*index, query, params);
      const auto want = MustSearch(*index, query, exact);
      for (const DenseHit& h : got) ASSERT_TRUE(filter(h.id));
      ASSERT_EQ(want.size(), 10u);
      ASSERT_EQ(got.size(), 10u) << "selectivity " << selectivity;
      if (selectivity <= 0.01) {
        for (size_t i = 0; i < want.size(); ++i) {
          EXPECT_EQ(got[i].id, want[i].id) << "selectivity " << selectivity;
          EXPECT_EQ(got[i].score, want[i].score);
        }
      }
      recall += RecallOf(got, want);
    }
    EXPECT_GE(recall / 40, 0.95) << "selectivity " << selectivity;
  }
  // A filter that allows nothing returns nothing.
  const std::function<bool(uint64_t)> none = [](uint64_t) { return false; };
  EXPECT_TRUE(
      MustSearch(*index, std::span(queries.data(), kDim), {.k = 10, .filter = &none}).empty());
}

// --- snapshots ----------------------------------------------------------------------

void ExpectSameResults(const DenseIndex& a, const DenseIndex& b,
                       const std::vector<float>& queries) {
  const size_t dim = a.options().dim;
  for (size_t q = 0; q < queries.size() / dim; ++q) {
    std::span<const float> query(queries.data() + q * dim, dim);
    for (bool exact : {false, true}) {
      const DenseSearchParams params{.k = 10, .ef = 48, .exact = exact, .oversampling = 4.0f};
      const auto x = MustSearch(a, query, params);
      const auto y = MustSearch(b, query, params);
      ASSERT_EQ(x.size(), y.size());
      for (size_t i = 0; i < x.size(); ++i) {
        EXPECT_EQ(x[i].id, y[i].id);
        EXPECT_EQ(x[i].score, y[i].score);
      }
    }
  }
}

class DenseSnapshotTest : public ::testing::TestWithParam<Quantization> {};

TEST_P(DenseSnapshotTest, SaveLoadRoundTrip) {
  constexpr size_t kDim = 32, kN = 3000;
  DenseIndexOptions options = Options(kDim, Metric::kCosine, GetParam());
  options.hnsw.m = 8;
  options.hnsw.ef_construction = 48;
  options.exact_below = 100;
  auto index = MustCreate(options);
  const auto data = Clustered(kN, kDim, 12);
  ASSERT_TRUE(index->AddBatch(Ids(kN), data, 2).ok());
  index->Remove(Ids(kN)[5]);
  TempDir dir;
  ASSERT_TRUE(index->Save(dir.path(), 77).ok());
  uint64_t seq = 0;
  auto loaded = DenseIndex::Load(dir.path(), &seq);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(seq, 77u);
  const auto queries = Clustered(20, kDim, 13);
  ExpectSameResults(*index, **loaded, queries);
  EXPECT_EQ((*loaded)->Stats().vectors, index->Stats().vectors);
  EXPECT_EQ((*loaded)->Stats().tombstones, 1u);
  EXPECT_FALSE((*loaded)->Contains(Ids(kN)[5]));
  EXPECT_TRUE((*loaded)->Contains(Ids(kN)[6]));
  if (GetParam() != Quantization::kFloat32) {
    EXPECT_EQ((*loaded)->Stats().original_bytes, kN * kDim * 4);
    // The originals are mapped, not on the heap.
    EXPECT_LT((*loaded)->Stats().memory_bytes, index->Stats().memory_bytes);
  }
  // A loaded index takes new vectors, saves again (mapped + heap originals)
  // and compacts.
  std::vector<float> extra(kDim, 0.5f);
  ASSERT_TRUE((*loaded)->Add(1, extra).ok());
  ASSERT_TRUE(index->Add(1, extra).ok());
  ExpectSameResults(*index, **loaded, queries);
  TempDir dir2;
  ASSERT_TRUE((*loaded)->Save(dir2.path(), 78).ok());
  auto reloaded = DenseIndex::Load(dir2.path(), &seq);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  EXPECT_EQ(seq, 78u);
  ExpectSameResults(*index, **reloaded, queries);
  ASSERT_TRUE((*reloaded)->Compact().ok());
  EXPECT_EQ((*reloaded)->Stats().tombstones, 0u);
  EXPECT_GE(MeanRecall(**reloaded, queries, {.k = 10, .ef = 48, .oversampling = 4.0f}), 0.95);
}

INSTANTIATE_TEST_SUITE_P(Codecs, DenseSnapshotTest,
                         ::testing::Values(Quantization::kFloat32, Quantization::kInt8));

TEST(DenseIndexTest, CorruptOrTruncatedFilesAreRejected) {
  constexpr size_t kDim = 16, kN = 1500;
  DenseIndexOptions options = Options(kDim, Metric::kL2, Quantization::kInt8);
  options.hnsw.m = 6;
  options.hnsw.ef_construction = 32;
  auto index = MustCreate(options);
  ASSERT_TRUE(index->AddBatch(Ids(kN), Clustered(kN, kDim, 14), 2).ok());
  TempDir dir, other;
  ASSERT_TRUE(index->Save(dir.path(), 5).ok());
  ASSERT_TRUE(index->Save(other.path(), 6).ok());
  const fs::path idx = dir.path() / "dense.idx";
  const fs::path orig = dir.path() / "dense.orig";
  const std::string idx_bytes = ReadAll(idx);
  const std::string orig_bytes = ReadAll(orig);
  ASSERT_GT(idx_bytes.size(), 64u);
  ASSERT_EQ(orig_bytes.size(), 4096 + kN * kDim * 4);

  auto expect_corrupt = [&](const char* what) {
    auto loaded = DenseIndex::Load(dir.path(), nullptr);
    EXPECT_FALSE(loaded.ok()) << what;
    if (!loaded.ok()) {
      EXPECT_TRUE(loaded.status().IsCorruption()) << what << ": " << loaded.status().ToString();
    }
  };
  std::mt19937 rng(1);
  for (int trial = 0; trial < 40; ++trial) {
    std::string damaged = idx_bytes;
    const size_t pos = trial < 8 ? static_cast<size_t>(trial * 8) : rng() % damaged.size();
    damaged[pos] = static_cast<char>(damaged[pos] ^ (1 << (rng() % 8)));
    WriteAll(idx, damaged);
    expect_corrupt("flipped index byte");
  }
  for (size_t cut : {size_t{0}, size_t{10}, size_t{63}, size_t{64}, idx_bytes.size() / 2,
                     idx_bytes.size() - 1}) {
    WriteAll(idx, idx_bytes.substr(0, cut));
    expect_corrupt("truncated index");
  }
  WriteAll(idx, idx_bytes + "x");
  expect_corrupt("index with trailing byte");
  WriteAll(idx, idx_bytes);
  ASSERT_TRUE(DenseIndex::Load(dir.path(), nullptr).ok());

  for (size_t pos : {size_t{3}, size_t{20}, size_t{4096}, orig_bytes.size() - 1}) {
    std::string damaged = orig_bytes;
    damaged[pos] = static_cast<char>(damaged[pos] ^ 0x10);
    WriteAll(orig, damaged);
    expect_corrupt("flipped originals byte");
  }
  for (size_t cut : {size_t{0}, size_t{100}, size_t{4096}, orig_bytes.size() - 4}) {
    WriteAll(orig, orig_bytes.substr(0, cut));
    expect_corrupt("truncated originals");
  }
  // Originals from another snapshot (other seq) do not match.
  fs::copy_file(other.path() / "dense.orig", orig, fs::copy_options::overwrite_existing);
  expect_corrupt("originals of another seq");
  fs::remove(orig);
  expect_corrupt("missing originals");
  WriteAll(orig, orig_bytes);
  ASSERT_TRUE(DenseIndex::Load(dir.path(), nullptr).ok());
  fs::remove(idx);
  auto missing = DenseIndex::Load(dir.path(), nullptr);
  EXPECT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound());
}

// --- input validation ---------------------------------------------------------------

TEST(DenseIndexTest, RejectsBadInput) {
  EXPECT_FALSE(DenseIndex::Create(Options(0, Metric::kL2)).ok());
  auto index = MustCreate(Options(4, Metric::kL2, Quantization::kInt8));
  const std::vector<float> good = {1, 2, 3, 4};
  const std::vector<float> short_vec = {1, 2, 3};
  const std::vector<float> nan_vec = {1, NAN, 3, 4};
  const std::vector<float> inf_vec = {1, 2, INFINITY, 4};
  EXPECT_EQ(index->Add(1, short_vec).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index->Add(1, nan_vec).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index->Add(1, inf_vec).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(index->Contains(1));
  EXPECT_EQ(index->Train(nan_vec).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index->Train(short_vec).code(), StatusCode::kInvalidArgument);
  const std::vector<uint64_t> two_ids = {1, 2};
  EXPECT_EQ(index->AddBatch(two_ids, good, 1).code(), StatusCode::kInvalidArgument);
  std::vector<float> batch = {1, 2, 3, 4, 5, 6, NAN, 8};
  EXPECT_EQ(index->AddBatch(two_ids, batch, 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index->Stats().vectors, 0u);
  ASSERT_TRUE(index->Add(1, good).ok());
  EXPECT_EQ(index->Search(short_vec, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index->Search(nan_vec, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index->Search(good, {.oversampling = 0.5f}).status().code(),
            StatusCode::kInvalidArgument);
  auto hits = index->Search(good, {.k = 0});
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
}

// --- int8 without an explicit Train ---------------------------------------------------

TEST(DenseIndexTest, Int8TrainsItselfOnTheFirstVectors) {
  constexpr size_t kDim = 32, kN = 3000;
  DenseIndexOptions options = Options(kDim, Metric::kCosine, Quantization::kInt8);
  options.hnsw.m = 8;
  options.hnsw.ef_construction = 48;
  options.exact_below = 10;
  options.train_sample = 400;
  auto index = MustCreate(options);
  const auto data = Clustered(kN, kDim, 15);
  const auto queries = Clustered(20, kDim, 16);
  for (size_t i = 0; i < 300; ++i) {
    ASSERT_TRUE(index->Add(i, std::span(data.data() + i * kDim, kDim)).ok());
  }
  // Buffered: searches are exact; a snapshot keeps the buffered state.
  EXPECT_EQ(MeanRecall(*index, queries, {.k = 10}), 1.0);
  TempDir dir;
  ASSERT_TRUE(index->Save(dir.path(), 1).ok());
  auto loaded = DenseIndex::Load(dir.path(), nullptr);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectSameResults(*index, **loaded, queries);
  for (size_t i = 300; i < kN; ++i) {
    ASSERT_TRUE(index->Add(i, std::span(data.data() + i * kDim, kDim)).ok());
    ASSERT_TRUE((*loaded)->Add(i, std::span(data.data() + i * kDim, kDim)).ok());
  }
  EXPECT_GE(MeanRecall(*index, queries, {.k = 10, .ef = 48, .oversampling = 4.0f}), 0.95);
  EXPECT_GE(MeanRecall(**loaded, queries, {.k = 10, .ef = 48, .oversampling = 4.0f}), 0.95);
}

}  // namespace
}  // namespace quarry::index::dense
