// The Query API executor: prefetch trees, fusion, rescoring, thresholds,
// paging and filters, against hand-computed answers on small collections.
#include "search/points_query.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "quarry/engine.h"
#include "search/test_embedder.h"

namespace quarry::search {
namespace {

using Kind = PointQuery::Kind;

class PointsQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("quarry_points_query_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    EngineOptions engine_options;
    engine_options.data_dir = dir_;
    engine_ = std::move(Engine::Open(engine_options)).value();
    CollectionOptions options;
    options.dense_vectors.push_back({"dense", 2, VectorMetric::kDot});
    options.dense_vectors.push_back({"euclid", 1, VectorMetric::kL2});
    options.sparse_vectors.push_back({"sparse", false});
    collection_ = *engine_->GetOrCreateCollection("c", options);
    // Point i (1..6): dense (i, 1) so dot with (1, 0) ranks 6 > 5 > ... > 1;
    // sparse {0: 7 - i} ranks 1 > 2 > ... > 6; euclid (i); payload group.
    std::vector<PointStruct> points;
    for (uint64_t i = 1; i <= 6; ++i) {
      PointStruct p;
      p.id = PointId::Num(i);
      p.vectors.emplace_back("dense", std::vector<float>{static_cast<float>(i), 1.0f});
      p.vectors.emplace_back("euclid", std::vector<float>{static_cast<float>(i)});
      p.sparse_vectors.emplace_back("sparse",
                                    SparseVector{{0}, {static_cast<float>(7 - i)}});
      static const char* kTexts[] = {"", "red apple pie", "green pear", "red car",
                                     "apple tree", "red apple", ""};
      nlohmann::json payload = {{"group", i % 2 == 0 ? "even" : "odd"}};
      if (kTexts[i][0] != '\0') payload["text"] = kTexts[i];
      p.payload = payload.dump();
      points.push_back(std::move(p));
    }
    ASSERT_TRUE(collection_->UpsertPoints(points).ok());
  }
  void TearDown() override {
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  static PointQuery Dense(float x, float y, size_t limit = 10) {
    PointQuery q;
    q.kind = Kind::kDense;
    q.using_name = "dense";
    q.dense = {x, y};
    q.limit = limit;
    return q;
  }
  static PointQuery Sparse(size_t limit = 10) {
    PointQuery q;
    q.kind = Kind::kSparse;
    q.using_name = "sparse";
    q.sparse = {{0}, {1.0f}};
    q.limit = limit;
    return q;
  }
  Result<PointQueryResult> Run(const PointQuery& q) {
    return RunPointQuery(*collection_, q, [](const std::string&, const std::string&) {
      return Result<embed::Embedder*>(Status::InvalidArgument("no model"));
    });
  }
  static std::vector<uint64_t> Ids(const PointQueryResult& r) {
    std::vector<uint64_t> ids;
    for (const auto& p : r.points) ids.push_back(p.id);
    return ids;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Engine> engine_;
  Collection* collection_ = nullptr;
};

TEST_F(PointsQueryTest, LeafQueries) {
  auto dense = Run(Dense(1, 0, 3));
  ASSERT_TRUE(dense.ok()) << dense.status().ToString();
  EXPECT_EQ(Ids(*dense), (std::vector<uint64_t>{6, 5, 4}));
  EXPECT_FLOAT_EQ(dense->points[0].score, 6.0f);
  auto sparse = Run(Sparse(2));
  ASSERT_TRUE(sparse.ok());
  EXPECT_EQ(Ids(*sparse), (std::vector<uint64_t>{1, 2}));
  EXPECT_FLOAT_EQ(sparse->points[1].score, 5.0f);
  PointQuery euclid;
  euclid.kind = Kind::kDense;
  euclid.using_name = "euclid";
  euclid.dense = {2.2f};
  euclid.limit = 2;
  auto near = Run(euclid);
  ASSERT_TRUE(near.ok());
  EXPECT_TRUE(near->euclid);
  EXPECT_EQ(Ids(*near), (std::vector<uint64_t>{2, 3}));
  EXPECT_NEAR(std::sqrt(-near->points[0].score), 0.2, 1e-5);
  // By point id: the stored vector of point 3, without point 3 itself.
  PointQuery by_id;
  by_id.kind = Kind::kPointId;
  by_id.using_name = "euclid";
  by_id.point = PointId::Num(3);
  by_id.limit = 2;
  auto neighbours = Run(by_id);
  ASSERT_TRUE(neighbours.ok()) << neighbours.status().ToString();
  EXPECT_EQ(Ids(*neighbours), (std::vector<uint64_t>{2, 4}));
}

TEST_F(PointsQueryTest, RrfFusionMatchesHandComputedRanks) {
  // Dense ranks 6,5,4,3 (0-based 0..3); sparse ranks 1,2,3,4. With Qdrant's
  // k = 2, RRF(p) = sum 1 / (2 + pos): 6 -> 1/2, 1 -> 1/2, 3 -> 1/5 + 1/4,
  // 4 -> 1/4 + 1/5, 5 -> 1/3, 2 -> 1/3; ties go to the lower id.
  PointQuery q;
  q.kind = Kind::kFusionRrf;
  q.prefetch = {Dense(1, 0, 4), Sparse(4)};
  q.limit = 6;
  auto fused = Run(q);
  ASSERT_TRUE(fused.ok()) << fused.status().ToString();
  EXPECT_EQ(Ids(*fused), (std::vector<uint64_t>{1, 6, 3, 4, 2, 5}));
  EXPECT_FLOAT_EQ(fused->points[0].score, 0.5f);
  EXPECT_FLOAT_EQ(fused->points[2].score, 0.45f);
  // Weights: with the dense list at weight 3 (k = 60), its first (6) beats
  // the sparse list's first (1): 1 / (1/3 + 59) > 1 / 60.
  q.weights = {3.0f, 1.0f};
  q.rrf_k = 60;
  auto weighted = Run(q);
  ASSERT_TRUE(weighted.ok());
  auto ids = Ids(*weighted);
  EXPECT_LT(std::find(ids.begin(), ids.end(), 6u), std::find(ids.begin(), ids.end(), 1u));
  // Offset and threshold at the root.
  q.weights.clear();
  q.rrf_k = 2;
  q.offset = 2;
  q.limit = 2;
  auto paged = Run(q);
  EXPECT_EQ(Ids(*paged), (std::vector<uint64_t>{3, 4}));
  q.offset = 0;
  q.limit = 10;
  q.score_threshold = 0.4f;
  auto above = Run(q);
  EXPECT_EQ(Ids(*above), (std::vector<uint64_t>{1, 6, 3, 4}));
}

TEST_F(PointsQueryTest, DbsfFusion) {
  PointQuery q;
  q.kind = Kind::kFusionDbsf;
  q.prefetch = {Dense(1, 0, 6), Sparse(6)};
  auto fused = Run(q);
  ASSERT_TRUE(fused.ok());
  // Both lists hold 1..6 evenly spaced, in opposite orders: with mean 3.5
  // and deviation s, each point sums (i - 3.5 + 3s) / 6s + (3.5 - i + 3s) / 6s = 1.
  ASSERT_EQ(fused->points.size(), 6u);
  for (const auto& point : fused->points) EXPECT_NEAR(point.score, 1.0f, 1e-5);
}

TEST_F(PointsQueryTest, RescoringScoresOnlyThePrefetchedCandidates) {
  // Sparse prefetch keeps 1, 2, 3; the dense query reorders them: 3, 2, 1.
  PointQuery q = Dense(1, 0, 10);
  q.prefetch = {Sparse(3)};
  auto rescored = Run(q);
  ASSERT_TRUE(rescored.ok()) << rescored.status().ToString();
  EXPECT_EQ(Ids(*rescored), (std::vector<uint64_t>{3, 2, 1}));
  EXPECT_FLOAT_EQ(rescored->points[0].score, 3.0f);
  // Nested: fuse two prefetches, then rescore the fused set with sparse.
  PointQuery inner;
  inner.kind = Kind::kFusionRrf;
  inner.prefetch = {Dense(1, 0, 2), Dense(-1, 0, 2)};  // {6, 5} and {1, 2}
  PointQuery outer = Sparse(10);
  outer.prefetch = {inner};
  auto nested = Run(outer);
  ASSERT_TRUE(nested.ok()) << nested.status().ToString();
  EXPECT_EQ(Ids(*nested), (std::vector<uint64_t>{1, 2, 5, 6}));
}

TEST_F(PointsQueryTest, FiltersApplyToPrefetchesToo) {
  PointQuery q;
  q.kind = Kind::kFusionRrf;
  q.prefetch = {Dense(1, 0, 2), Sparse(2)};
  q.filter = Filter{};
  q.filter->must.push_back(Condition::Match("group", std::string("even")));
  auto fused = Run(q);
  ASSERT_TRUE(fused.ok());
  // Filtered prefetches: dense {6, 4}, sparse {2, 4}.
  EXPECT_EQ(Ids(*fused), (std::vector<uint64_t>{4, 2, 6}));
  // A prefetch's own filter narrows only that prefetch.
  PointQuery own = Dense(1, 0, 3);
  own.filter = Filter{};
  own.filter->must_not.push_back(Condition::HasId({6}));
  PointQuery outer;
  outer.prefetch = {own};
  auto single = Run(outer);
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(Ids(*single), (std::vector<uint64_t>{5, 4, 3}));
}

// Quarry's rerank stage: the cross-encoder orders the union of the
// prefetched candidates by their text; candidates without text drop out.
TEST_F(PointsQueryTest, RerankOrdersPrefetchedCandidatesByText) {
  testing::OverlapReranker reranker;
  RerankerLookup rerankers = [&](const std::string& model) -> Result<embed::Reranker*> {
    if (!model.empty() && model != "overlap") return Status::InvalidArgument("no reranker " + model);
    return &reranker;
  };
  auto no_embedders = [](const std::string&, const std::string&) {
    return Result<embed::Embedder*>(Status::InvalidArgument("no model"));
  };
  PointQuery q;
  q.kind = Kind::kRerank;
  q.text = "red apple";
  q.prefetch = {Dense(1, 0, 3), Sparse(3)};  // {6, 5, 4} and {1, 2, 3}
  q.limit = 10;
  auto ranked = RunPointQuery(*collection_, q, no_embedders, rerankers);
  ASSERT_TRUE(ranked.ok()) << ranked.status().ToString();
  // Overlap with "red apple" (minus 0.001 per byte): 5 "red apple" 2 - 0.009,
  // 1 "red apple pie" 2 - 0.013, 3 "red car" 1, 4 "apple tree" 1 (longer), 2 "green pear" 0;
  // 6 has no text.
  std::vector<uint64_t> ids;
  for (const auto& p : ranked->points) ids.push_back(p.id);
  EXPECT_EQ(ids, (std::vector<uint64_t>{5, 1, 3, 4, 2}));
  EXPECT_EQ(reranker.calls, 1);
  EXPECT_EQ(reranker.last_batch, 5u);
  EXPECT_NEAR(ranked->points[0].score, 2.0f - 0.009f, 1e-5);
  q.limit = 2;
  auto top = RunPointQuery(*collection_, q, no_embedders, rerankers);
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->points.size(), 2u);
  q.model = "other";
  EXPECT_NE(RunPointQuery(*collection_, q, no_embedders, rerankers).status().message().find("no reranker"),
            std::string::npos);
  PointQuery alone;
  alone.kind = Kind::kRerank;
  alone.text = "x";
  EXPECT_NE(RunPointQuery(*collection_, alone, no_embedders, rerankers).status().message().find("prefetches"),
            std::string::npos);
  EXPECT_FALSE(Run(q).ok());  // no reranker at all
}

TEST_F(PointsQueryTest, ErrorsNameTheProblem) {
  // No query and no prefetch: the points in id order (Qdrant's scroll-like answer).
  PointQuery none;
  none.limit = 3;
  none.offset = 1;
  auto listed = Run(none);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Ids(*listed), (std::vector<uint64_t>{2, 3, 4}));
  PointQuery fusion_alone;
  fusion_alone.kind = Kind::kFusionRrf;
  EXPECT_NE(Run(fusion_alone).status().message().find("prefetches"), std::string::npos);
  PointQuery two;
  two.prefetch = {Dense(1, 0), Sparse()};
  EXPECT_NE(Run(two).status().message().find("several prefetches"), std::string::npos);
  PointQuery unknown = Dense(1, 0);
  unknown.using_name = "nope";
  EXPECT_NE(Run(unknown).status().message().find("no vector 'nope'"), std::string::npos);
  PointQuery no_using = Sparse();
  no_using.using_name.clear();
  EXPECT_FALSE(Run(no_using).ok());
  PointQuery text;
  text.kind = Kind::kText;
  text.text = "hello";
  text.using_name = "dense";
  EXPECT_NE(Run(text).status().message().find("no model"), std::string::npos);
  PointQuery deep = Dense(1, 0);
  for (int i = 0; i < 10; ++i) {
    PointQuery parent = Dense(1, 0);
    parent.prefetch = {deep};
    deep = parent;
  }
  EXPECT_FALSE(Run(deep).ok());
}

}  // namespace
}  // namespace quarry::search
