#include "index/sparse/sparse_vector_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace quarry::index {
namespace {

// An owned sparse vector, viewed as the index wants it.
struct Vec {
  std::vector<uint32_t> indices;
  std::vector<float> values;
  SparseVectorView view() const { return {indices, values}; }
};

Vec MakeVec(std::initializer_list<std::pair<uint32_t, float>> entries) {
  Vec v;
  for (const auto& [index, value] : entries) {
    v.indices.push_back(index);
    v.values.push_back(value);
  }
  return v;
}

std::vector<ScoredPoint> MustSearch(const SparseVectorIndex& index, const Vec& query, size_t k,
                                    const SparseFilter& filter = {}) {
  auto result = index.Search(query.view(), k, filter);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? *result : std::vector<ScoredPoint>{};
}

std::vector<uint64_t> Ids(const std::vector<ScoredPoint>& hits) {
  std::vector<uint64_t> ids;
  for (const ScoredPoint& p : hits) ids.push_back(p.point_id);
  return ids;
}

uint32_t Bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

// Same ids in the same order with bit-identical scores.
void ExpectIdentical(const std::vector<ScoredPoint>& actual,
                     const std::vector<ScoredPoint>& expected, const std::string& where) {
  ASSERT_EQ(actual.size(), expected.size()) << where;
  for (size_t i = 0; i < actual.size(); ++i) {
    ASSERT_EQ(actual[i].point_id, expected[i].point_id) << where << " rank " << i;
    ASSERT_EQ(Bits(actual[i].score), Bits(expected[i].score))
        << where << " rank " << i << ": " << actual[i].score << " vs " << expected[i].score;
  }
}

// ---------------------------------------------------------------------------
// An independent reference: dot products (and idf) in double over plain maps.
class NaiveSparse {
 public:
  explicit NaiveSparse(SparseModifier modifier) : modifier_(modifier) {}

  void Add(uint64_t point_id, const Vec& v) {
    std::map<uint32_t, double> entries;
    for (size_t i = 0; i < v.indices.size(); ++i) {
      if (v.values[i] != 0.0f) entries[v.indices[i]] = v.values[i];
    }
    points_[point_id] = entries;
  }
  void Remove(uint64_t point_id) { points_.erase(point_id); }
  bool Contains(uint64_t point_id) const { return points_.count(point_id) != 0; }
  size_t size() const { return points_.size(); }

  double Idf(uint32_t dim) const {
    double df = 0;
    for (const auto& [id, entries] : points_) df += entries.count(dim);
    const double n = static_cast<double>(points_.size());
    return std::log(1.0 + (n - df + 0.5) / (df + 0.5));
  }

  struct Score {
    double score = 0.0;
    double magnitude = 0.0;  // sum of |terms|, to bound float rounding
  };

  // Every point sharing a non-zero dimension with the query.
  std::map<uint64_t, Score> ScoreAll(const Vec& query) const {
    std::map<uint64_t, Score> scores;
    for (size_t i = 0; i < query.indices.size(); ++i) {
      if (query.values[i] == 0.0f) continue;
      const uint32_t dim = query.indices[i];
      const double weight = query.values[i] * (modifier_ == SparseModifier::kIdf ? Idf(dim) : 1.0);
      for (const auto& [id, entries] : points_) {
        auto it = entries.find(dim);
        if (it == entries.end()) continue;
        Score& s = scores[id];
        s.score += weight * it->second;
        s.magnitude += std::fabs(weight * it->second);
      }
    }
    return scores;
  }

 private:
  SparseModifier modifier_;
  std::map<uint64_t, std::map<uint32_t, double>> points_;
};

// `hits` must be a valid top k of the naive scores among allowed points.
void ExpectMatchesNaive(const std::vector<ScoredPoint>& hits, const NaiveSparse& naive,
                        const Vec& query, size_t k, const std::function<bool(uint64_t)>& allowed,
                        const std::string& where) {
  const auto scores = naive.ScoreAll(query);
  auto tolerance = [](const NaiveSparse::Score& s) { return 1e-5 * (1.0 + s.magnitude); };
  size_t eligible = 0;
  for (const auto& [id, s] : scores) eligible += allowed(id) ? 1 : 0;
  ASSERT_EQ(hits.size(), std::min(k, eligible)) << where;
  std::set<uint64_t> returned;
  for (const ScoredPoint& p : hits) {
    ASSERT_TRUE(returned.insert(p.point_id).second) << where << ": duplicate " << p.point_id;
    ASSERT_TRUE(allowed(p.point_id)) << where;
    auto it = scores.find(p.point_id);
    ASSERT_NE(it, scores.end()) << where << ": point " << p.point_id << " has no overlap";
    ASSERT_NEAR(p.score, it->second.score, tolerance(it->second)) << where;
  }
  for (size_t i = 1; i < hits.size(); ++i) {
    ASSERT_TRUE(hits[i - 1].score > hits[i].score ||
                (hits[i - 1].score == hits[i].score && hits[i - 1].point_id < hits[i].point_id))
        << where << " rank " << i;
  }
  if (hits.empty()) return;
  const NaiveSparse::Score& last = scores.at(hits.back().point_id);
  for (const auto& [id, s] : scores) {
    if (returned.count(id) != 0 || !allowed(id)) continue;
    ASSERT_LE(s.score, last.score + tolerance(s) + tolerance(last))
        << where << ": point " << id << " was left out";
  }
}

// ---------------------------------------------------------------------------

TEST(SparseVectorIndexTest, DotProductsByHand) {
  SparseVectorIndex index;
  ASSERT_TRUE(index.Add(1, MakeVec({{7, -0.5f}, {1, 1.0f}, {3, 2.0f}}).view()).ok());
  ASSERT_TRUE(index.Add(2, MakeVec({{3, 4.0f}}).view()).ok());
  ASSERT_TRUE(index.Add(3, MakeVec({{9, 1.0f}, {7, 2.0f}}).view()).ok());
  ASSERT_TRUE(index.Add(4, MakeVec({}).view()).ok());  // exists, matches nothing
  ASSERT_TRUE(index.Add(5, MakeVec({{2, 5.0f}, {3, 0.0f}}).view()).ok());  // the zero is dropped

  // q = {3: 0.5, 7: 2}: p1 = 0.5*2 + 2*(-0.5) = 0, p2 = 0.5*4 = 2, p3 = 2*2 = 4.
  const Vec query = MakeVec({{7, 2.0f}, {3, 0.5f}});
  auto hits = MustSearch(index, query, 10);
  ASSERT_EQ(Ids(hits), (std::vector<uint64_t>{3, 2, 1}));
  EXPECT_EQ(hits[0].score, 4.0f);
  EXPECT_EQ(hits[1].score, 2.0f);
  EXPECT_EQ(hits[2].score, 0.0f);  // overlapping with a zero score: still returned
  EXPECT_EQ(Ids(MustSearch(index, query, 2)), (std::vector<uint64_t>{3, 2}));
  EXPECT_TRUE(MustSearch(index, query, 0).empty());

  // Negative query weights rank normally: p1 = 0.5, p3 = -2.
  hits = MustSearch(index, MakeVec({{7, -1.0f}}), 10);
  ASSERT_EQ(Ids(hits), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(hits[0].score, 0.5f);
  EXPECT_EQ(hits[1].score, -2.0f);

  // Zero query values and unknown dimensions match nothing.
  EXPECT_TRUE(MustSearch(index, MakeVec({{2, 0.0f}, {100, 3.0f}}), 10).empty());
  EXPECT_TRUE(MustSearch(index, MakeVec({}), 10).empty());
  EXPECT_TRUE(index.Contains(4));
  EXPECT_EQ(Ids(MustSearch(index, MakeVec({{2, 1.0f}}), 10)), (std::vector<uint64_t>{5}));

  // Ties go to the lower point id: p1 = 2*1 + 1*2 = 4, p2 = 1*4 = 4.
  hits = MustSearch(index, MakeVec({{1, 2.0f}, {3, 1.0f}}), 10);
  ASSERT_EQ(Ids(hits), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(hits[0].score, hits[1].score);

  const SparseVectorStats stats = index.Stats();
  EXPECT_EQ(stats.points, 5u);
  EXPECT_EQ(stats.dimensions, 5u);  // 1, 2, 3, 7, 9
  EXPECT_EQ(stats.postings, 7u);
  EXPECT_EQ(stats.tombstones, 0u);
  EXPECT_GT(stats.memory_bytes, 7u * 8u);
}

TEST(SparseVectorIndexTest, IdfModifierByHand) {
  SparseVectorIndex index(SparseModifier::kIdf);
  EXPECT_EQ(index.modifier(), SparseModifier::kIdf);
  ASSERT_TRUE(index.Add(1, MakeVec({{1, 1.0f}, {2, 1.0f}}).view()).ok());
  ASSERT_TRUE(index.Add(2, MakeVec({{1, 1.0f}}).view()).ok());
  ASSERT_TRUE(index.Add(3, MakeVec({{1, 2.0f}}).view()).ok());
  ASSERT_TRUE(index.Add(4, MakeVec({}).view()).ok());  // counts in N

  // N = 4; dim 1: n = 3, idf = ln(1 + 1.5 / 3.5) = 0.35667494;
  //        dim 2: n = 1, idf = ln(1 + 3.5 / 1.5) = 1.2039728.
  const double idf1 = 0.35667494393873245;
  const double idf2 = 1.2039728043259361;
  const Vec query = MakeVec({{2, 1.0f}, {1, 1.0f}});
  auto hits = MustSearch(index, query, 10);
  ASSERT_EQ(Ids(hits), (std::vector<uint64_t>{1, 3, 2}));
  EXPECT_NEAR(hits[0].score, idf1 + idf2, 1e-6);
  EXPECT_NEAR(hits[1].score, 2 * idf1, 1e-6);
  EXPECT_NEAR(hits[2].score, idf1, 1e-6);
  // Qdrant evaluates the idf in f32, in this order; so does the index.
  const float qdrant_idf1 = std::log((4.0f - 3.0f + 0.5f) / (3.0f + 0.5f) + 1.0f);
  EXPECT_EQ(hits[2].score, qdrant_idf1);

  // The query weight scales too: {1: 3} gives p3 = 3 * idf1 * 2.
  hits = MustSearch(index, MakeVec({{1, 3.0f}}), 1);
  ASSERT_EQ(Ids(hits), (std::vector<uint64_t>{3}));
  EXPECT_NEAR(hits[0].score, 6 * idf1, 1e-5);

  // Statistics follow live points: without the empty point N = 3, and dim 1
  // (n = 3) gets ln(1 + 0.5 / 3.5).
  ASSERT_TRUE(index.Remove(4));
  hits = MustSearch(index, MakeVec({{1, 1.0f}}), 10);
  ASSERT_EQ(Ids(hits), (std::vector<uint64_t>{3, 1, 2}));
  EXPECT_NEAR(hits[2].score, std::log(1.0 + 0.5 / 3.5), 1e-6);
  // Without point 1, dim 2 has no live posting: the query matches nothing.
  ASSERT_TRUE(index.Remove(1));
  EXPECT_TRUE(MustSearch(index, MakeVec({{2, 1.0f}}), 10).empty());

  // The same data without the modifier scores the plain dot product.
  SparseVectorIndex plain;
  ASSERT_TRUE(plain.Add(1, MakeVec({{1, 1.0f}, {2, 1.0f}}).view()).ok());
  hits = MustSearch(plain, query, 10);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].score, 2.0f);
}

TEST(SparseVectorIndexTest, ReplaceAndRemove) {
  SparseVectorIndex index;
  ASSERT_TRUE(index.Add(1, MakeVec({{1, 1.0f}}).view()).ok());
  ASSERT_TRUE(index.Add(2, MakeVec({{1, 2.0f}}).view()).ok());
  ASSERT_TRUE(index.Add(1, MakeVec({{2, 3.0f}}).view()).ok());  // replaces point 1
  EXPECT_EQ(index.Stats().points, 2u);
  EXPECT_EQ(Ids(MustSearch(index, MakeVec({{1, 1.0f}}), 10)), (std::vector<uint64_t>{2}));
  auto hits = MustSearch(index, MakeVec({{2, 1.0f}}), 10);
  ASSERT_EQ(Ids(hits), (std::vector<uint64_t>{1}));
  EXPECT_EQ(hits[0].score, 3.0f);

  EXPECT_TRUE(index.Remove(2));
  EXPECT_FALSE(index.Remove(2));
  EXPECT_FALSE(index.Remove(99));
  EXPECT_FALSE(index.Contains(2));
  EXPECT_TRUE(index.Contains(1));
  EXPECT_TRUE(MustSearch(index, MakeVec({{1, 1.0f}}), 10).empty());
  EXPECT_EQ(index.Stats().dimensions, 1u);

  // Many removals: tombstones never exceed a quarter of the slots for long.
  for (uint64_t id = 10; id < 1010; ++id) {
    ASSERT_TRUE(index.Add(id, MakeVec({{static_cast<uint32_t>(id % 7), 1.0f}}).view()).ok());
  }
  for (uint64_t id = 10; id < 1010; id += 2) {
    ASSERT_TRUE(index.Remove(id));
    const SparseVectorStats stats = index.Stats();
    ASSERT_LE(stats.tombstones * 4, stats.points + stats.tombstones);
  }
  EXPECT_EQ(index.Stats().points, 501u);
  hits = MustSearch(index, MakeVec({{3, 1.0f}}), 1000);
  for (const ScoredPoint& p : hits) EXPECT_EQ(p.point_id % 2, 1u);
  EXPECT_EQ(hits.size(), 71u);  // odd ids in [10, 1010) with id % 7 == 3
  ExpectIdentical(hits, index.SearchExhaustive(MakeVec({{3, 1.0f}}).view(), 1000), "after removes");

  // Remove everything, then reuse.
  for (uint64_t id = 11; id < 1010; id += 2) ASSERT_TRUE(index.Remove(id));
  ASSERT_TRUE(index.Remove(1));
  EXPECT_EQ(index.Stats().points, 0u);
  EXPECT_EQ(index.Stats().dimensions, 0u);
  EXPECT_TRUE(MustSearch(index, MakeVec({{3, 1.0f}}), 10).empty());
  ASSERT_TRUE(index.Add(5, MakeVec({{3, 2.0f}}).view()).ok());
  EXPECT_EQ(Ids(MustSearch(index, MakeVec({{3, 1.0f}}), 10)), (std::vector<uint64_t>{5}));

  // Compact() keeps results and drops the tombstones.
  ASSERT_TRUE(index.Add(6, MakeVec({{3, 1.0f}}).view()).ok());
  ASSERT_TRUE(index.Add(7, MakeVec({{3, 3.0f}}).view()).ok());
  ASSERT_TRUE(index.Add(8, MakeVec({{3, 4.0f}}).view()).ok());
  ASSERT_TRUE(index.Remove(6));
  EXPECT_EQ(index.Stats().tombstones, 1u);
  index.Compact();
  EXPECT_EQ(index.Stats().tombstones, 0u);
  EXPECT_EQ(index.Stats().postings, 3u);
  EXPECT_EQ(Ids(MustSearch(index, MakeVec({{3, 1.0f}}), 10)), (std::vector<uint64_t>{8, 7, 5}));
}

TEST(SparseVectorIndexTest, InvalidInputsAreRejected) {
  SparseVectorIndex index;
  ASSERT_TRUE(index.Add(1, MakeVec({{1, 1.0f}}).view()).ok());
  auto expect_invalid = [](const Status& status, const std::string& needle) {
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
    EXPECT_NE(status.message().find(needle), std::string::npos) << status.ToString();
  };
  Vec mismatched;
  mismatched.indices = {1, 2};
  mismatched.values = {1.0f};
  expect_invalid(index.Add(2, mismatched.view()), "2 indices but 1 values");
  expect_invalid(index.Add(2, MakeVec({{4, std::nanf("")}}).view()), "value of index 4");
  expect_invalid(index.Add(2, MakeVec({{4, std::numeric_limits<float>::infinity()}}).view()),
                 "not finite");
  expect_invalid(index.Add(2, MakeVec({{5, 1.0f}, {3, 1.0f}, {5, 0.0f}}).view()),
                 "index 5 is repeated");
  Vec too_long;
  for (uint32_t i = 0; i <= SparseVectorIndex::kMaxEntries; ++i) {
    too_long.indices.push_back(i);
    too_long.values.push_back(1.0f);
  }
  expect_invalid(index.Add(2, too_long.view()), "65537 entries exceed the limit of 65536");
  // A failed replacement leaves the old vector in place.
  expect_invalid(index.Add(1, MakeVec({{2, 1.0f}, {2, 1.0f}}).view()), "repeated");
  EXPECT_EQ(Ids(MustSearch(index, MakeVec({{1, 1.0f}}), 10)), (std::vector<uint64_t>{1}));
  EXPECT_FALSE(index.Contains(2));
  EXPECT_EQ(index.Stats().points, 1u);

  // Queries are validated the same way.
  auto result = index.Search(MakeVec({{1, 1.0f}, {1, 2.0f}}).view(), 10);
  ASSERT_FALSE(result.ok());
  expect_invalid(result.status(), "index 1 is repeated");
  result = index.Search(mismatched.view(), 10);
  ASSERT_FALSE(result.ok());
  expect_invalid(result.status(), "sparse query");
  EXPECT_TRUE(index.SearchExhaustive(mismatched.view(), 10).empty());

  // Exactly kMaxEntries is fine.
  too_long.indices.pop_back();
  too_long.values.pop_back();
  ASSERT_TRUE(index.Add(3, too_long.view()).ok());
  auto hits = MustSearch(index, too_long, 10);
  ASSERT_EQ(Ids(hits), (std::vector<uint64_t>{3, 1}));
  EXPECT_EQ(hits[0].score, 65536.0f);
}

TEST(SparseVectorIndexTest, FilterWithCandidatesAndAccept) {
  SparseVectorIndex index;
  std::mt19937_64 rng(3);
  for (uint64_t id = 0; id < 300; ++id) {
    Vec v;
    for (uint32_t dim = 0; dim < 8; ++dim) {
      if (rng() % 2 == 0) {
        v.indices.push_back(dim);
        v.values.push_back(static_cast<float>(rng() % 100) / 10.0f - 2.0f);
      }
    }
    ASSERT_TRUE(index.Add(id * 3, v.view()).ok());
  }
  const Vec query = MakeVec({{0, 1.0f}, {3, 0.5f}, {5, -0.25f}});
  const auto unfiltered = MustSearch(index, query, 1000);
  ASSERT_GT(unfiltered.size(), 100u);

  // Candidates: few (scored one by one) and many (intersected).
  for (size_t stride : {1, 2, 37}) {
    std::vector<uint64_t> candidates;
    for (uint64_t id = 0; id < 900; id += 3 * stride) candidates.push_back(id);
    candidates.push_back(100000);  // unknown ids are ignored
    SparseFilter filter;
    filter.candidates = &candidates;
    const auto hits = MustSearch(index, query, 10, filter);
    std::vector<ScoredPoint> expected;
    for (const ScoredPoint& p : unfiltered) {
      if (std::binary_search(candidates.begin(), candidates.end(), p.point_id)) {
        expected.push_back(p);
      }
    }
    if (expected.size() > 10) expected.resize(10);
    ExpectIdentical(hits, expected, "stride " + std::to_string(stride));
    ExpectIdentical(hits, index.SearchExhaustive(query.view(), 10, filter),
                    "exhaustive stride " + std::to_string(stride));
  }
  std::vector<uint64_t> none;
  SparseFilter empty_candidates;
  empty_candidates.candidates = &none;
  EXPECT_TRUE(MustSearch(index, query, 10, empty_candidates).empty());

  // Accept: rejects every id divisible by 2; asked at most once per point, and
  // never about more points than it takes to fill the top k.
  std::map<uint64_t, int> calls;
  const std::function<bool(uint64_t)> accept = [&calls](uint64_t id) {
    ++calls[id];
    return id % 2 == 1;
  };
  SparseFilter filter;
  filter.accept = &accept;
  const auto hits = MustSearch(index, query, 10, filter);
  for (const auto& [id, count] : calls) EXPECT_EQ(count, 1) << "point " << id;
  std::vector<ScoredPoint> expected;
  size_t asked = 0;
  for (const ScoredPoint& p : unfiltered) {
    if (expected.size() == 10) break;
    ++asked;
    EXPECT_EQ(calls.count(p.point_id), 1u) << "point " << p.point_id << " was not asked";
    if (p.point_id % 2 == 1) expected.push_back(p);
  }
  ExpectIdentical(hits, expected, "accept");
  EXPECT_EQ(calls.size(), asked);

  // Both together, and an accept that rejects everything.
  std::vector<uint64_t> candidates;
  for (uint64_t id = 0; id < 900; id += 9) candidates.push_back(id);
  filter.candidates = &candidates;
  calls.clear();
  const auto both = MustSearch(index, query, 5, filter);
  for (const auto& [id, count] : calls) {
    EXPECT_EQ(count, 1);
    EXPECT_TRUE(std::binary_search(candidates.begin(), candidates.end(), id));
  }
  ExpectIdentical(both, index.SearchExhaustive(query.view(), 5, filter), "both");
  const std::function<bool(uint64_t)> reject_all = [](uint64_t) { return false; };
  filter.accept = &reject_all;
  EXPECT_TRUE(MustSearch(index, query, 5, filter).empty());
}

TEST(SparseVectorIndexTest, OverflowingScoresRankDeterministically) {
  SparseVectorIndex index;
  const float big = 3e38f;
  ASSERT_TRUE(index.Add(1, MakeVec({{1, big}, {2, -big}}).view()).ok());  // inf - inf = NaN
  ASSERT_TRUE(index.Add(2, MakeVec({{1, big}}).view()).ok());             // +inf
  ASSERT_TRUE(index.Add(3, MakeVec({{2, -big}}).view()).ok());            // -inf
  ASSERT_TRUE(index.Add(4, MakeVec({{1, 1.0f}}).view()).ok());            // 10
  const Vec query = MakeVec({{1, 10.0f}, {2, 10.0f}});
  const auto hits = MustSearch(index, query, 10);
  ASSERT_EQ(Ids(hits), (std::vector<uint64_t>{2, 4, 3, 1}));
  EXPECT_TRUE(std::isnan(hits[3].score));
  ExpectIdentical(hits, index.SearchExhaustive(query.view(), 10), "overflow");
  EXPECT_EQ(Ids(MustSearch(index, query, 3)), (std::vector<uint64_t>{2, 4, 3}));
}

// ---------------------------------------------------------------------------
// Random property test: Search == SearchExhaustive bit for bit, and both a
// valid top k of the naive double-precision scores.

Vec RandomVec(std::mt19937_64& rng, uint32_t dims, size_t max_entries) {
  const size_t n = std::uniform_int_distribution<size_t>(0, max_entries)(rng);
  std::set<uint32_t> used;
  Vec v;
  std::uniform_int_distribution<uint32_t> pick_dim(0, dims - 1);
  std::normal_distribution<float> value(0.5f, 1.0f);
  for (size_t i = 0; i < n; ++i) {
    // Skewed dimensions so some posting lists are long.
    uint32_t dim = pick_dim(rng);
    if (rng() % 2 == 0) dim %= std::max<uint32_t>(1, dims / 16);
    if (!used.insert(dim).second) continue;
    v.indices.push_back(dim * 7919u + 3u);  // spread over the uint32 range
    const uint64_t kind = rng() % 20;
    v.values.push_back(kind == 0 ? 0.0f : kind == 1 ? 1.0f : value(rng));
  }
  return v;
}

TEST(SparseVectorIndexTest, RandomAgainstExhaustiveAndNaive) {
  std::mt19937_64 rng(20240611);
  for (int trial = 0; trial < 40; ++trial) {
    const SparseModifier modifier = trial % 2 == 0 ? SparseModifier::kNone : SparseModifier::kIdf;
    const uint32_t dims =
        std::uniform_int_distribution<uint32_t>(1, trial % 3 == 0 ? 20 : 3000)(rng);
    const size_t num_points = std::uniform_int_distribution<size_t>(0, 800)(rng);
    const size_t max_entries = std::uniform_int_distribution<size_t>(0, 40)(rng);
    SparseVectorIndex index(modifier);
    NaiveSparse naive(modifier);
    std::vector<uint64_t> ids;
    for (size_t point_idx = 0; point_idx < num_points; ++point_idx) {
      const uint64_t id = rng() % 4 == 0 && !ids.empty() ? ids[rng() % ids.size()]  // replace
                                                         : rng() % 100000;
      const Vec v = RandomVec(rng, dims, max_entries);
      ASSERT_TRUE(index.Add(id, v.view()).ok());
      naive.Add(id, v);
      ids.push_back(id);
      if (rng() % 8 == 0) {
        const uint64_t victim = ids[rng() % ids.size()];
        ASSERT_EQ(index.Remove(victim), naive.Contains(victim));
        naive.Remove(victim);
      }
    }
    ASSERT_EQ(index.Stats().points, naive.size());

    for (int q = 0; q < 15; ++q) {
      const Vec query = RandomVec(rng, dims, q % 5 == 0 ? 400 : 8);
      const size_t k = std::uniform_int_distribution<size_t>(1, 60)(rng);
      const std::string where = "trial " + std::to_string(trial) + " query " + std::to_string(q);

      SparseFilter filter;
      std::vector<uint64_t> candidates;
      const int filter_kind = q % 4;  // none, candidates, accept, both
      if (filter_kind == 1 || filter_kind == 3) {
        std::set<uint64_t> chosen;
        const size_t count = std::uniform_int_distribution<size_t>(0, rng() % 2 ? 10 : 600)(rng);
        for (size_t i = 0; i < count && !ids.empty(); ++i) chosen.insert(ids[rng() % ids.size()]);
        for (size_t i = 0; i < count / 4; ++i) chosen.insert(rng() % 100000);
        candidates.assign(chosen.begin(), chosen.end());
        filter.candidates = &candidates;
      }
      std::map<uint64_t, int> calls;
      const uint64_t salt = rng();
      auto passes = [salt](uint64_t id) {
        return ((id ^ salt) * 0x9E3779B97F4A7C15ull) >> 62 != 0;
      };
      const std::function<bool(uint64_t)> accept = [&calls, &passes](uint64_t id) {
        ++calls[id];
        return passes(id);
      };
      if (filter_kind >= 2) filter.accept = &accept;

      auto result = index.Search(query.view(), k, filter);
      ASSERT_TRUE(result.ok()) << where << ": " << result.status().ToString();
      for (const auto& [id, count] : calls) ASSERT_EQ(count, 1) << where << " point " << id;
      const auto exact = index.SearchExhaustive(query.view(), k, filter);
      ExpectIdentical(*result, exact, where);
      auto allowed = [&](uint64_t id) {
        if (filter.candidates != nullptr &&
            !std::binary_search(candidates.begin(), candidates.end(), id)) {
          return false;
        }
        return filter.accept == nullptr || passes(id);
      };
      ExpectMatchesNaive(*result, naive, query, k, allowed, where);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

// ---------------------------------------------------------------------------
// Snapshots.

SparseVectorIndex RandomIndex(std::mt19937_64& rng, SparseModifier modifier, size_t points,
                              uint32_t dims) {
  SparseVectorIndex index(modifier);
  for (size_t point_idx = 0; point_idx < points; ++point_idx) {
    EXPECT_TRUE(index.Add(rng() % (points * 2), RandomVec(rng, dims, 12).view()).ok());
  }
  for (size_t i = 0; i < points / 10; ++i) index.Remove(rng() % (points * 2));
  return index;
}

TEST(SparseVectorIndexTest, SerializeRoundTrip) {
  std::mt19937_64 rng(11);
  for (SparseModifier modifier : {SparseModifier::kNone, SparseModifier::kIdf}) {
    SparseVectorIndex index = RandomIndex(rng, modifier, 500, 200);
    ASSERT_TRUE(index.Add(123456789012345ull, MakeVec({}).view()).ok());  // empty vector
    const std::string bytes = index.Serialize();
    auto restored = SparseVectorIndex::Deserialize(bytes);
    ASSERT_TRUE(restored.ok()) << restored.status().ToString();
    EXPECT_EQ(restored->modifier(), modifier);
    EXPECT_EQ(restored->Stats().points, index.Stats().points);
    EXPECT_EQ(restored->Stats().dimensions, index.Stats().dimensions);
    EXPECT_EQ(restored->Stats().tombstones, 0u);
    EXPECT_TRUE(restored->Contains(123456789012345ull));
    EXPECT_EQ(restored->Serialize(), bytes);
    for (int q = 0; q < 30; ++q) {
      const Vec query = RandomVec(rng, 200, 20);
      ExpectIdentical(MustSearch(*restored, query, 20), MustSearch(index, query, 20),
                      "round trip query " + std::to_string(q));
    }
    // Compacting changes slots, not results or bytes.
    index.Compact();
    EXPECT_EQ(index.Serialize(), bytes);
  }
  SparseVectorIndex empty;
  auto restored = SparseVectorIndex::Deserialize(empty.Serialize());
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(restored->Stats().points, 0u);
  EXPECT_TRUE(MustSearch(*restored, MakeVec({{1, 1.0f}}), 5).empty());
}

TEST(SparseVectorIndexTest, DeserializeRejectsBadInput) {
  SparseVectorIndex index;
  ASSERT_TRUE(index.Add(1, MakeVec({{4, 1.5f}}).view()).ok());
  const std::string good = index.Serialize();
  auto expect_corrupt = [](std::string_view bytes, const std::string& needle) {
    auto result = SparseVectorIndex::Deserialize(bytes);
    ASSERT_FALSE(result.ok());
    EXPECT_TRUE(result.status().IsCorruption()) << result.status().ToString();
    EXPECT_NE(result.status().message().find(needle), std::string::npos)
        << result.status().ToString();
  };
  expect_corrupt("", "bad magic");
  expect_corrupt("QSP", "bad magic");
  std::string bad_version = good;
  bad_version[4] = 9;
  expect_corrupt(bad_version, "unsupported format version 9");
  std::string bad_modifier = good;
  bad_modifier[8] = 2;
  expect_corrupt(bad_modifier, "unknown modifier 2");
  expect_corrupt(good + "x", "trailing bytes");
  std::string huge_count = good.substr(0, 9);
  huge_count += std::string("\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 9);
  expect_corrupt(huge_count, "exceeds the payload");

  // Hand-built payloads: header, 2 points (ids 5, 5), ...
  std::string header = good.substr(0, 9);
  expect_corrupt(header + std::string("\x02\x05\x05\x00", 4), "duplicate point id 5");
  // 1 point, 1 dim (7), 1 posting at slot 0 with value 0 / NaN / slot 1.
  auto with_posting = [&header](char slot_gap, float value) {
    std::string bytes = header + std::string("\x01\x2a\x01\x07\x01", 5);
    bytes.push_back(slot_gap);
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>(bits >> (8 * i)));
    return bytes;
  };
  ASSERT_TRUE(SparseVectorIndex::Deserialize(with_posting(0, 2.0f)).ok());
  expect_corrupt(with_posting(0, 0.0f), "invalid value");
  expect_corrupt(with_posting(0, std::nanf("")), "invalid value");
  expect_corrupt(with_posting(1, 2.0f), "slot out of range");

  // One point (id 42) with one posting in each of `dims` consecutive dimensions.
  auto wide_point = [&header](uint32_t dims) {
    std::string bytes = header + std::string("\x01\x2a", 2);
    uint32_t count = dims;  // varint
    for (; count >= 0x80; count >>= 7) bytes.push_back(static_cast<char>((count & 0x7F) | 0x80));
    bytes.push_back(static_cast<char>(count));
    for (uint32_t dim = 0; dim < dims; ++dim) {
      bytes += std::string("\x00\x01\x00\x00\x00\x80\x3f", 7);  // gap 0, count 1, slot 0, 1.0f
    }
    return bytes;
  };
  auto wide = SparseVectorIndex::Deserialize(wide_point(SparseVectorIndex::kMaxEntries));
  ASSERT_TRUE(wide.ok()) << wide.status().ToString();
  EXPECT_EQ(wide->Stats().dimensions, SparseVectorIndex::kMaxEntries);
  expect_corrupt(wide_point(SparseVectorIndex::kMaxEntries + 1), "more than 65536 entries");
}

TEST(SparseVectorIndexTest, DeserializeSurvivesTruncationFlipsAndGarbage) {
  std::mt19937_64 rng(77);
  const SparseVectorIndex index = RandomIndex(rng, SparseModifier::kIdf, 60, 50);
  const std::string good = index.Serialize();
  ASSERT_TRUE(SparseVectorIndex::Deserialize(good).ok());
  auto expect_usable = [](const SparseVectorIndex& restored, const std::string& where) {
    std::mt19937_64 query_rng(5);
    for (int q = 0; q < 3; ++q) {
      const Vec query = RandomVec(query_rng, 50, 10);
      ExpectIdentical(MustSearch(restored, query, 10), restored.SearchExhaustive(query.view(), 10),
                      where);
    }
    auto again = SparseVectorIndex::Deserialize(restored.Serialize());
    ASSERT_TRUE(again.ok()) << where << ": " << again.status().ToString();
  };

  // Every strict prefix is missing data and must fail cleanly.
  for (size_t len = 0; len < good.size(); ++len) {
    auto result = SparseVectorIndex::Deserialize(std::string_view(good).substr(0, len));
    ASSERT_FALSE(result.ok()) << "prefix " << len;
    ASSERT_TRUE(result.status().IsCorruption()) << result.status().ToString();
  }
  // Flips: fail with Corruption, or give an index that works.
  size_t accepted = 0;
  for (size_t pos = 0; pos < good.size(); ++pos) {
    for (uint8_t mask : {0x01, 0x10, 0x80, 0xff}) {
      std::string bad = good;
      bad[pos] = static_cast<char>(bad[pos] ^ mask);
      auto result = SparseVectorIndex::Deserialize(bad);
      if (!result.ok()) {
        ASSERT_TRUE(result.status().IsCorruption()) << result.status().ToString();
        continue;
      }
      ++accepted;
      expect_usable(*result, "flip at " + std::to_string(pos));
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  EXPECT_GT(accepted, 0u);  // some flips (values, point ids) are benign
  // Random garbage, alone and behind a valid header.
  for (int trial = 0; trial < 3000; ++trial) {
    std::string junk(std::uniform_int_distribution<size_t>(0, 200)(rng), '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (trial % 2 == 0) junk = good.substr(0, 9) + junk;
    auto result = SparseVectorIndex::Deserialize(junk);
    if (!result.ok()) {
      ASSERT_TRUE(result.status().IsCorruption()) << result.status().ToString();
      continue;
    }
    expect_usable(*result, "junk " + std::to_string(trial));
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(SparseVectorIndexTest, StatsTrackMemory) {
  SparseVectorIndex index;
  const uint64_t empty_bytes = index.Stats().memory_bytes;
  std::mt19937_64 rng(1);
  for (uint64_t id = 0; id < 2000; ++id) {
    ASSERT_TRUE(index.Add(id, RandomVec(rng, 1000, 30).view()).ok());
  }
  const SparseVectorStats stats = index.Stats();
  EXPECT_EQ(stats.points, 2000u);
  // At least 8 bytes a posting and 8 a point id; not wildly more.
  EXPECT_GE(stats.memory_bytes, empty_bytes + stats.postings * 8 + stats.points * 8);
  EXPECT_LE(stats.memory_bytes,
            empty_bytes + stats.postings * 32 + stats.points * 128 + stats.dimensions * 128);
}

}  // namespace
}  // namespace quarry::index
