#include "index/dense/hnsw.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <set>
#include <thread>
#include <vector>

namespace quarry::index::dense {
namespace {

// Clustered Gaussian data: `clusters` centres, points spread around them.
std::vector<float> ClusteredData(size_t n, size_t dim, size_t clusters, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> centres(clusters * dim);
  for (float& x : centres) x = normal(rng) * 3.0f;
  std::vector<float> data(n * dim);
  for (size_t row = 0; row < n; ++row) {
    const size_t c = rng() % clusters;
    for (size_t d = 0; d < dim; ++d) data[row * dim + d] = centres[c * dim + d] + normal(rng);
  }
  return data;
}

float L2(const float* a, const float* b, size_t dim) {
  float sum = 0;
  for (size_t d = 0; d < dim; ++d) sum += (a[d] - b[d]) * (a[d] - b[d]);
  return sum;
}

// Plain float L2 over a row-major array: the test's "codec".
struct Table {
  const float* data;
  size_t dim;
  const float* Row(uint32_t slot) const { return data + static_cast<size_t>(slot) * dim; }
};

struct QuerySpace {
  Table table;
  const float* query;
  float operator()(uint32_t slot) const { return L2(query, table.Row(slot), table.dim); }
  void Prefetch(uint32_t slot) const { __builtin_prefetch(table.Row(slot)); }
  float Between(uint32_t a, uint32_t b) const { return L2(table.Row(a), table.Row(b), table.dim); }
};

struct PairDistance {
  Table table;
  float operator()(uint32_t a, uint32_t b) const {
    return L2(table.Row(a), table.Row(b), table.dim);
  }
};

std::vector<uint32_t> ExactTopK(const Table& table, size_t n, const float* query, size_t k,
                                const std::function<bool(uint32_t)>& keep) {
  std::vector<Neighbor> all;
  for (uint32_t slot = 0; slot < n; ++slot) {
    if (keep(slot)) all.push_back({L2(query, table.Row(slot), table.dim), slot});
  }
  const size_t take = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + take, all.end());
  std::vector<uint32_t> out;
  for (size_t i = 0; i < take; ++i) out.push_back(all[i].slot);
  return out;
}

double Recall(const std::vector<Neighbor>& got, const std::vector<uint32_t>& truth) {
  if (truth.empty()) return 1.0;
  std::set<uint32_t> want(truth.begin(), truth.end());
  size_t hits = 0;
  for (const Neighbor& n : got) hits += want.count(n.slot);
  return static_cast<double>(hits) / truth.size();
}

class HnswTest : public ::testing::Test {
 protected:
  static constexpr size_t kDim = 32;
  static constexpr size_t kN = 6000;
  static constexpr size_t kQueries = 100;

  void SetUp() override {
    data_ = ClusteredData(kN, kDim, 40, 1);
    queries_ = ClusteredData(kQueries, kDim, 40, 1);  // same centres
    // Perturb the queries so they are not copies of data points.
    std::mt19937 rng(7);
    std::normal_distribution<float> noise(0.0f, 0.5f);
    for (float& x : queries_) x += noise(rng);
  }

  Table table() const { return {data_.data(), kDim}; }
  const float* Query(size_t q) const { return queries_.data() + q * kDim; }

  void Build(HnswGraph* graph, size_t n) {
    for (uint32_t slot = 0; slot < n; ++slot) {
      graph->Insert(slot, QuerySpace{table(), table().Row(slot)});
    }
  }

  double MeanRecall(const HnswGraph& graph, size_t n, size_t ef,
                    const std::function<bool(uint32_t)>& keep) {
    double sum = 0;
    std::vector<Neighbor> got;
    for (size_t q = 0; q < kQueries; ++q) {
      graph.Search(QuerySpace{table(), Query(q)}, 10, ef, keep, &got);
      for (const Neighbor& n : got) EXPECT_TRUE(keep(n.slot));
      sum += Recall(got, ExactTopK(table(), n, Query(q), 10, keep));
    }
    return sum / kQueries;
  }

  std::vector<float> data_;
  std::vector<float> queries_;
};

TEST_F(HnswTest, EmptyGraphFindsNothing) {
  HnswGraph graph({}, 10);
  std::vector<Neighbor> got;
  graph.Search(QuerySpace{table(), Query(0)}, 10, 32, &got);
  EXPECT_TRUE(got.empty());
}

TEST_F(HnswTest, RecallAgainstExact) {
  HnswGraph graph({.m = 16, .ef_construction = 100, .seed = 3}, kN);
  Build(&graph, kN);
  EXPECT_EQ(graph.size(), kN);
  const auto all = [](uint32_t) { return true; };
  const double recall = MeanRecall(graph, kN, 64, all);
  EXPECT_GE(recall, 0.95);
  // Results are sorted closest first and distinct.
  std::vector<Neighbor> got;
  graph.Search(QuerySpace{table(), Query(0)}, 10, 64, &got);
  ASSERT_EQ(got.size(), 10u);
  EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
}

// A run of equal vectors longer than a link list (here 300 copies, every
// tenth slot) must not become an island: the heuristic keeps every tie, so
// unless the graph caps the links between copies, a node's list fills with
// copies and a search that reaches them cannot get out. The search must still
// return k results with the exact distances, for queries at the copies and
// elsewhere.
TEST_F(HnswTest, EqualVectorsDoNotFormAnIsland) {
  constexpr size_t kCopies = 300;
  std::vector<float> data = data_;
  for (size_t i = 0; i < kCopies; ++i) {
    std::copy(data_.begin(), data_.begin() + kDim, data.begin() + (i * 10) * kDim);
  }
  const Table t{data.data(), kDim};
  HnswGraph graph({.m = 8, .ef_construction = 64, .seed = 11}, kN);
  for (uint32_t slot = 0; slot < kN; ++slot) graph.Insert(slot, QuerySpace{t, t.Row(slot)});

  const auto all = [](uint32_t) { return true; };
  std::vector<const float*> queries = {t.Row(0)};
  for (size_t q = 0; q < 20; ++q) queries.push_back(Query(q));
  for (size_t k : {10u, 50u, 400u}) {
    for (const float* query : queries) {
      std::vector<Neighbor> got;
      graph.Search(QuerySpace{t, query}, k, std::max<size_t>(k, 200), all, &got);
      ASSERT_EQ(got.size(), k);
      // Ties make slots ambiguous: a hit counts when it is no farther than
      // the exact k-th neighbour.
      const std::vector<uint32_t> truth = ExactTopK(t, kN, query, k, all);
      const float kth = L2(query, t.Row(truth.back()), kDim);
      size_t hits = 0;
      for (const Neighbor& n : got) hits += n.distance <= kth;
      EXPECT_GE(static_cast<double>(hits) / k, 0.9) << "k=" << k;
    }
  }
}

TEST_F(HnswTest, GrowsWithReserve) {
  HnswGraph graph({.m = 8, .ef_construction = 64, .seed = 1}, 16);
  for (uint32_t slot = 0; slot < 2000; ++slot) {
    if (slot >= graph.capacity()) graph.Reserve(graph.capacity() * 2);
    graph.Insert(slot, QuerySpace{table(), table().Row(slot)});
  }
  EXPECT_GE(MeanRecall(graph, 2000, 64, [](uint32_t) { return true; }), 0.95);
}

TEST_F(HnswTest, ConcurrentInsertAndSearch) {
  HnswGraph graph({.m = 12, .ef_construction = 64, .seed = 5}, kN);
  std::atomic<uint32_t> next{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (uint32_t slot = next++; slot < kN; slot = next++) {
        graph.Insert(slot, QuerySpace{table(), table().Row(slot)});
      }
    });
  }
  std::atomic<size_t> searches{0};
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Neighbor> got;
      size_t q = static_cast<size_t>(t);
      while (!done.load()) {
        graph.Search(QuerySpace{table(), Query(q % kQueries)}, 10, 32, &got);
        for (const Neighbor& n : got) ASSERT_LT(n.slot, kN);
        ++q;
        ++searches;
      }
    });
  }
  for (int t = 0; t < 3; ++t) threads[t].join();
  done = true;
  for (size_t t = 3; t < threads.size(); ++t) threads[t].join();
  EXPECT_GT(searches.load(), 0u);
  EXPECT_EQ(graph.size(), kN);
  EXPECT_GE(MeanRecall(graph, kN, 64, [](uint32_t) { return true; }), 0.95);
}

TEST_F(HnswTest, DeletedNeverReturnedAndRepairKeepsRecall) {
  HnswGraph graph({.m = 16, .ef_construction = 100, .seed = 3}, kN);
  Build(&graph, kN);
  std::vector<uint8_t> dead(kN, 0);
  std::mt19937 rng(11);
  for (size_t i = 0; i < kN / 3; ++i) {
    const uint32_t slot = rng() % kN;
    dead[slot] = 1;
    graph.MarkDeleted(slot);
  }
  dead[graph.entry_point()] = 1;  // the entry point too
  graph.MarkDeleted(graph.entry_point());
  const auto live = [&](uint32_t s) { return dead[s] == 0; };
  // MeanRecall's keep() excludes them from the truth; the graph must not
  // return them although its accept() says yes.
  std::vector<Neighbor> got;
  for (size_t q = 0; q < kQueries; ++q) {
    graph.Search(QuerySpace{table(), Query(q)}, 10, 64, &got);
    for (const Neighbor& n : got) ASSERT_FALSE(dead[n.slot]);
  }
  EXPECT_GE(MeanRecall(graph, kN, 64, live), 0.9);

  graph.RepairDeleted(PairDistance{table()});
  ASSERT_NE(graph.entry_point(), kInvalidSlot);
  EXPECT_FALSE(graph.IsDeleted(graph.entry_point()));
  EXPECT_GE(MeanRecall(graph, kN, 64, live), 0.95);

  // Compact: renumber the live slots densely, moving their vectors too.
  std::vector<uint32_t> old_to_new(kN, kInvalidSlot);
  std::vector<float> packed;
  uint32_t next = 0;
  for (uint32_t s = 0; s < kN; ++s) {
    if (dead[s]) continue;
    old_to_new[s] = next++;
    packed.insert(packed.end(), table().Row(s), table().Row(s) + kDim);
  }
  graph.Remap(old_to_new, next);
  EXPECT_EQ(graph.size(), next);
  EXPECT_EQ(graph.deleted_count(), 0u);
  data_ = packed;
  EXPECT_GE(MeanRecall(graph, next, 64, [](uint32_t) { return true; }), 0.95);
  // Inserting after a compaction still works.
  graph.Reserve(next + 10);
}

TEST_F(HnswTest, FilterOnlyReturnsAccepted) {
  HnswGraph graph({.m = 16, .ef_construction = 100, .seed = 3}, kN);
  Build(&graph, kN);
  for (uint32_t modulo : {2u, 10u}) {
    const auto keep = [modulo](uint32_t s) { return s % modulo == 0; };
    EXPECT_GE(MeanRecall(graph, kN, 64, keep), 0.93) << "1/" << modulo;
  }
}

TEST_F(HnswTest, SerializeRoundTripAndRejectsDamage) {
  HnswGraph graph({.m = 8, .ef_construction = 64, .seed = 9}, 3000);
  Build(&graph, 2500);  // 500 slots never inserted
  graph.MarkDeleted(17);
  std::string bytes;
  graph.Serialize(3000, &bytes);
  auto loaded = HnswGraph::Deserialize(bytes, 4000);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const HnswGraph& copy = **loaded;
  EXPECT_EQ(copy.size(), graph.size());
  EXPECT_EQ(copy.capacity(), 4000u);
  EXPECT_TRUE(copy.IsDeleted(17));
  EXPECT_EQ(copy.entry_point(), graph.entry_point());
  std::vector<Neighbor> a, b;
  for (size_t q = 0; q < kQueries; ++q) {
    graph.Search(QuerySpace{table(), Query(q)}, 10, 40, &a);
    copy.Search(QuerySpace{table(), Query(q)}, 10, 40, &b);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].slot, b[i].slot);
  }
  // Truncations are rejected.
  for (size_t cut : {size_t{0}, size_t{7}, size_t{40}, bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_FALSE(HnswGraph::Deserialize(std::string_view(bytes).substr(0, cut), 4000).ok());
  }
  // Too small a capacity is rejected.
  EXPECT_FALSE(HnswGraph::Deserialize(bytes, 100).ok());
  // Random damage never crashes; a damaged link is caught.
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    std::string damaged = bytes;
    const size_t pos = rng() % damaged.size();
    damaged[pos] = static_cast<char>(damaged[pos] ^ (1 + rng() % 255));
    auto result = HnswGraph::Deserialize(damaged, 4000);
    if (result.ok()) {
      std::vector<Neighbor> got;
      (*result)->Search(QuerySpace{table(), Query(0)}, 10, 40, &got);
      for (const Neighbor& n : got) EXPECT_LT(n.slot, 3000u);
    }
  }
}

}  // namespace
}  // namespace quarry::index::dense
