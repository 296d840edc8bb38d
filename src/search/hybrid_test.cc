// Hybrid text search against brute-force references on a small collection,
// with a hashed bag-of-words "model" and a word-overlap "cross-encoder".
#include "search/hybrid.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/hash.h"
#include "quarry/engine.h"
#include "search/test_embedder.h"

namespace quarry::search {
namespace {

constexpr size_t kDim = 32;
using testing::HashEmbedder;
using testing::Words;

using testing::OverlapReranker;

class HybridTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("quarry_hybrid_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    EngineOptions eo;
    eo.data_dir = dir_;
    eo.map_size = 1ull << 30;
    engine_ = std::move(Engine::Open(eo)).value();
    CollectionOptions co;
    DenseVectorConfig dv;
    dv.name = "text";
    dv.dim = kDim;
    co.dense_vectors.push_back(dv);
    coll_ = std::move(engine_->GetOrCreateCollection("c", co)).value();
    EmbedderChunkAdapter adapter(&embedder_);
    ASSERT_TRUE(coll_->Upsert(MakeDocs(), &adapter).ok());
  }
  static std::vector<Document> MakeDocs() {
    const char* topics[] = {"kernel memory allocator", "network socket buffer",
                            "file system journal", "process scheduler latency",
                            "memory pages swap", "socket timeout retry"};
    std::vector<Document> docs;
    for (int i = 0; i < 60; ++i) {
      Document d;
      d.doc_id = "doc" + std::to_string(i);
      d.source = d.doc_id;
      d.text = std::string(topics[i % 6]) + " notes number " + std::to_string(i) + " about " +
               topics[(i * 7 + 3) % 6] + (i % 4 == 0 ? " memory" : "") +
               (i % 5 == 0 ? " scheduler socket" : "");
      docs.push_back(std::move(d));
    }
    return docs;
  }
  void TearDown() override {
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Every chunk, ranked by each retriever exhaustively.
  std::vector<Scored> AllDense(const std::string& q) {
    std::vector<std::vector<float>> v;
    std::string_view t = q;
    EXPECT_TRUE(embedder_.Embed({&t, 1}, embed::TextKind::kQuery, &v).ok());
    SearchRequest r;
    r.vector = VectorQuery{"text", v[0]};
    r.exact = true;
    r.limit = 1000;
    r.with_text = false;
    std::vector<Scored> out;
    auto res = coll_->Search(r);
    EXPECT_TRUE(res.ok());
    for (const auto& h : res->hits) out.push_back({h.point_id, h.score});
    return out;
  }
  std::vector<Scored> AllSparse(const std::string& q) {
    SearchRequest r;
    r.text = q;
    r.limit = 1000;
    r.with_text = false;
    std::vector<Scored> out;
    auto res = coll_->Search(r);
    EXPECT_TRUE(res.ok());
    for (const auto& h : res->hits) out.push_back({h.point_id, h.score});
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Engine> engine_;
  Collection* coll_ = nullptr;
  HashEmbedder embedder_{kDim};
  OverlapReranker reranker_;
};

// Hybrid RRF over exhaustive prefetches equals a brute-force fusion computed
// here from the formula, for several k and weights.
TEST_F(HybridTest, HybridEqualsBruteForceReference) {
  for (const std::string q : {"memory allocator", "socket scheduler", "journal latency swap"}) {
    const auto dense = AllDense(q), sparse = AllSparse(q);
    for (auto [k, wd, ws] : {std::tuple{2, 1.0f, 1.0f}, {60, 1.0f, 1.0f}, {2, 3.0f, 1.0f}}) {
      std::map<uint64_t, double> want;
      for (size_t p = 0; p < dense.size(); ++p) want[dense[p].id] += 1.0 / ((p + 1) / wd + k - 1);
      for (size_t p = 0; p < sparse.size(); ++p) want[sparse[p].id] += 1.0 / ((p + 1) / ws + k - 1);
      std::vector<std::pair<double, uint64_t>> ref;
      for (auto [id, s] : want) ref.push_back({-s, id});
      std::sort(ref.begin(), ref.end());
      TextSearchOptions o;
      o.text = q;
      o.limit = 10;
      o.exact = true;
      o.prefetch_limit = 1000;
      o.rrf_k = k;
      o.weights = {wd, ws};
      auto got = SearchText(*coll_, &embedder_, nullptr, o);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_EQ(got->response.hits.size(), 10u);
      for (size_t i = 0; i < 10; ++i) {
        EXPECT_NEAR(got->response.hits[i].score, -ref[i].first, 1e-5) << q << " k " << k;
        // Equal scores may come in either order; compare ids only where distinct.
        if (i + 1 < ref.size() && std::fabs(ref[i].first - ref[i + 1].first) > 1e-6 &&
            (i == 0 || std::fabs(ref[i].first - ref[i - 1].first) > 1e-6)) {
          EXPECT_EQ(got->response.hits[i].point_id, ref[i].second) << q << " rank " << i;
        }
      }
      EXPECT_FALSE(got->response.hits[0].chunk.text.empty());
    }
  }
}

// A collection's default k and weights apply to hybrid searches that name
// none, and an explicit k or weights still win; they survive reopening.
TEST_F(HybridTest, CollectionDefaultFusionParameters) {
  CollectionOptions co = coll_->options();
  co.rrf_k = 60;
  co.fusion_weights = {3.0f, 1.0f};
  auto weighted = engine_->GetOrCreateCollection("weighted", co);
  ASSERT_TRUE(weighted.ok()) << weighted.status().ToString();
  std::vector<Document> docs;
  EmbedderChunkAdapter adapter(&embedder_);
  ASSERT_TRUE((*weighted)->Upsert(MakeDocs(), &adapter).ok());
  auto ids = [](const TextSearchResult& r) {
    std::vector<std::pair<std::string, float>> out;
    for (const auto& h : r.response.hits) out.push_back({h.chunk.doc_id, h.score});
    return out;
  };
  for (const std::string q : {"memory allocator", "socket scheduler"}) {
    TextSearchOptions plain;
    plain.text = q;
    plain.exact = true;
    TextSearchOptions explicit_options = plain;
    explicit_options.rrf_k = 60;
    explicit_options.weights = {3.0f, 1.0f};
    auto by_default = SearchText(**weighted, &embedder_, nullptr, plain);
    auto reference = SearchText(*coll_, &embedder_, nullptr, explicit_options);
    ASSERT_TRUE(by_default.ok() && reference.ok());
    EXPECT_EQ(ids(*by_default), ids(*reference)) << q;
    // Explicit parameters override the collection's.
    TextSearchOptions equal = plain;
    equal.rrf_k = 2;
    equal.weights = {1.0f, 1.0f};
    auto overridden = SearchText(**weighted, &embedder_, nullptr, equal);
    auto plain_reference = SearchText(*coll_, &embedder_, nullptr, plain);
    ASSERT_TRUE(overridden.ok() && plain_reference.ok());
    EXPECT_EQ(ids(*overridden), ids(*plain_reference)) << q;
  }
  EXPECT_NE(ids(*SearchText(**weighted, &embedder_, nullptr, [] {
              TextSearchOptions o;
              o.text = "memory allocator";
              o.exact = true;
              return o;
            }())),
            ids(*SearchText(*coll_, &embedder_, nullptr, [] {
              TextSearchOptions o;
              o.text = "memory allocator";
              o.exact = true;
              return o;
            }())));
  // Stored with the collection.
  engine_.reset();
  EngineOptions eo;
  eo.data_dir = dir_;
  engine_ = std::move(Engine::Open(eo)).value();
  auto reopened = engine_->GetCollection("weighted");
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->options().rrf_k, 60);
  EXPECT_EQ((*reopened)->options().fusion_weights, (std::vector<float>{3.0f, 1.0f}));
  coll_ = *engine_->GetCollection("c");
  // Bad defaults are refused.
  co.fusion_weights = {1.0f};
  EXPECT_FALSE(engine_->GetOrCreateCollection("bad", co).ok());
  co.fusion_weights = {};
  co.rrf_k = -1;
  EXPECT_FALSE(engine_->GetOrCreateCollection("bad2", co).ok());
}

TEST_F(HybridTest, SingleModesAndPaging) {
  const std::string q = "memory pages";
  const auto dense = AllDense(q), sparse = AllSparse(q);
  TextSearchOptions o;
  o.text = q;
  o.exact = true;
  o.limit = 5;
  o.mode = Mode::kDense;
  auto d = SearchText(*coll_, &embedder_, nullptr, o);
  ASSERT_TRUE(d.ok());
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(d->response.hits[i].point_id, dense[i].id);
  o.mode = Mode::kSparse;
  auto s = SearchText(*coll_, nullptr, nullptr, o);  // BM25 needs no model
  ASSERT_TRUE(s.ok());
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(s->response.hits[i].point_id, sparse[i].id);
  EXPECT_FALSE(s->response.query_terms.empty());
  // Pages of a hybrid ranking tile it.
  o.mode = Mode::kHybrid;
  o.limit = 12;
  auto all = SearchText(*coll_, &embedder_, nullptr, o);
  ASSERT_TRUE(all.ok());
  o.limit = 4;
  o.offset = 8;
  auto page = SearchText(*coll_, &embedder_, nullptr, o);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->response.hits.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(page->response.hits[i].point_id, all->response.hits[8 + i].point_id);
  }
  // DBSF is another fusion, same candidates.
  o.offset = 0;
  o.limit = 10;
  o.fusion = FusionMethod::kDbsf;
  auto dbsf = SearchText(*coll_, &embedder_, nullptr, o);
  ASSERT_TRUE(dbsf.ok());
  EXPECT_EQ(dbsf->response.hits.size(), 10u);
}

TEST_F(HybridTest, RerankOrdersTheTopCandidates) {
  TextSearchOptions o;
  o.text = "socket scheduler memory";
  o.limit = 5;
  o.rerank = RerankMode::kOn;
  o.rerank_top = 15;
  TextSearchOptions first_stage;
  first_stage.text = o.text;
  first_stage.limit = 15;
  auto fused = SearchText(*coll_, &embedder_, nullptr, first_stage);
  ASSERT_TRUE(fused.ok());
  auto got = SearchText(*coll_, &embedder_, &reranker_, o);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->reranked);
  EXPECT_EQ(reranker_.last_batch, 15u);
  // The reference: the first 15 fused candidates sorted by the reranker's score.
  std::vector<std::string_view> passages;
  for (const auto& h : fused->response.hits) passages.push_back(h.chunk.text);
  std::vector<float> scores;
  ASSERT_TRUE(reranker_.Score(o.text, passages, &scores).ok());
  std::vector<size_t> order(passages.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  ASSERT_EQ(got->response.hits.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(got->response.hits[i].point_id, fused->response.hits[order[i]].point_id);
    EXPECT_FLOAT_EQ(got->response.hits[i].score, scores[order[i]]);
  }
}

TEST(RerankRuleTest, AutoSkipsOnlyWhenTheFirstStageIsSure) {
  const std::vector<Scored> a = {{1, 0.9f}, {2, 0.8f}, {3, 0.7f}, {4, 0.6f}};
  const std::vector<Scored> b = {{1, 9.0f}, {2, 8.0f}, {3, 7.0f}, {5, 1.0f}};
  const std::vector<Scored> c = {{2, 9.0f}, {1, 8.0f}, {3, 7.0f}};
  EXPECT_FALSE(RerankCanChangePage(Mode::kHybrid, a, b, 10));  // agree on the top 3
  EXPECT_TRUE(RerankCanChangePage(Mode::kHybrid, a, c, 10));   // disagree at rank 1
  // Single retriever: an outlier winner skips, a close race reranks.
  std::vector<Scored> outlier = {{1, 10.0f}};
  for (uint64_t i = 2; i < 20; ++i) outlier.push_back({i, 1.0f + 0.01f * static_cast<float>(i)});
  EXPECT_FALSE(RerankCanChangePage(Mode::kSparse, {}, outlier, 10));
  EXPECT_TRUE(RerankCanChangePage(Mode::kDense, a, {}, 10));
  EXPECT_FALSE(RerankCanChangePage(Mode::kDense, {{1, 1.0f}}, {}, 10));  // one hit: nothing to reorder
}

TEST_F(HybridTest, AutoRerankSkipsWhenRetrieversAgree) {
  TextSearchOptions o;
  o.text = "journal";
  o.limit = 3;
  o.rerank = RerankMode::kAuto;
  o.exact = true;
  auto got = SearchText(*coll_, &embedder_, &reranker_, o);
  ASSERT_TRUE(got.ok());
  const auto dense = AllDense(o.text), sparse = AllSparse(o.text);
  const bool change = RerankCanChangePage(Mode::kHybrid, dense, sparse, 3);
  EXPECT_EQ(got->reranked, change);
  EXPECT_EQ(got->rerank_skipped, !change);
}

TEST_F(HybridTest, MissingModelsAreClearErrors) {
  TextSearchOptions o;
  o.text = "memory";
  auto no_model = SearchText(*coll_, nullptr, nullptr, o);
  ASSERT_FALSE(no_model.ok());
  EXPECT_NE(no_model.status().message().find("--model"), std::string::npos);
  o.rerank = RerankMode::kOn;
  auto no_reranker = SearchText(*coll_, &embedder_, nullptr, o);
  ASSERT_FALSE(no_reranker.ok());
  EXPECT_NE(no_reranker.status().message().find("--reranker"), std::string::npos);
  o.rerank = RerankMode::kOff;
  o.text = "";
  EXPECT_FALSE(SearchText(*coll_, &embedder_, nullptr, o).ok());
  o.text = "x";
  o.weights = {1.0f};  // one weight for two prefetches
  EXPECT_FALSE(SearchText(*coll_, &embedder_, nullptr, o).ok());
  o.weights = {};
  EXPECT_TRUE(ParseMode("hybrid").ok());
  EXPECT_FALSE(ParseMode("semantic").ok());
  EXPECT_FALSE(ParseRerankMode("maybe").ok());
}

}  // namespace
}  // namespace quarry::search

// ---- the result cache ----

namespace quarry::search {
namespace {

class ResultCacheTest : public HybridTest {
 protected:
  void SetUp() override {
    HybridTest::SetUp();
    cache::CacheOptions options;
    options.memory_bytes = 4 << 20;
    cache_ = std::move(cache::LayeredCache::Open(options)).value();
  }
  std::vector<uint64_t> Ids(const TextSearchResult& r) {
    std::vector<uint64_t> ids;
    for (const auto& hit : r.response.hits) ids.push_back(hit.point_id);
    return ids;
  }
  std::unique_ptr<cache::LayeredCache> cache_;
};

TEST_F(ResultCacheTest, ServesTheSameAnswerUntilAWriteThenNeverTheOldOne) {
  OverlapReranker reranker;
  TextSearchOptions o;
  o.text = "memory scheduler";
  o.limit = 5;
  o.rerank = RerankMode::kOn;
  auto first = SearchText(*coll_, &embedder_, &reranker, o, cache_.get());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->cached);
  ASSERT_TRUE(first->reranked);
  const int calls = reranker.calls;

  auto second = SearchText(*coll_, &embedder_, &reranker, o, cache_.get());
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->cached);
  EXPECT_EQ(reranker.calls, calls) << "a hit must not run the cross-encoder";
  EXPECT_TRUE(second->reranked);
  EXPECT_EQ(second->response.query_terms, first->response.query_terms);
  ASSERT_EQ(Ids(*second), Ids(*first));
  for (size_t i = 0; i < first->response.hits.size(); ++i) {
    EXPECT_EQ(second->response.hits[i].score, first->response.hits[i].score);
    EXPECT_EQ(second->response.hits[i].chunk.text, first->response.hits[i].chunk.text);
    EXPECT_EQ(second->response.hits[i].chunk.doc_id, first->response.hits[i].chunk.doc_id);
  }
  // Another page, another text: other entries.
  TextSearchOptions paged = o;
  paged.offset = 1;
  EXPECT_FALSE(SearchText(*coll_, &embedder_, &reranker, paged, cache_.get())->cached);
  TextSearchOptions other = o;
  other.text = "memory scheduler socket";
  EXPECT_FALSE(SearchText(*coll_, &embedder_, &reranker, other, cache_.get())->cached);

  // A write makes the cached page unreachable: the new best document shows up.
  Document d;
  d.doc_id = "fresh";
  d.source = "fresh";
  d.text = "memory scheduler memory scheduler";
  EmbedderChunkAdapter adapter(&embedder_);
  ASSERT_TRUE(coll_->Upsert({d}, &adapter).ok());
  auto third = SearchText(*coll_, &embedder_, &reranker, o, cache_.get());
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->cached);
  ASSERT_FALSE(third->response.hits.empty());
  EXPECT_EQ(third->response.hits[0].chunk.doc_id, "fresh");
  EXPECT_TRUE(SearchText(*coll_, &embedder_, &reranker, o, cache_.get())->cached);

  // And a delete takes it away again.
  ASSERT_TRUE(coll_->DeleteDocument("fresh").ok());
  auto fourth = SearchText(*coll_, &embedder_, &reranker, o, cache_.get());
  ASSERT_TRUE(fourth.ok());
  EXPECT_FALSE(fourth->cached);
  EXPECT_EQ(Ids(*fourth), Ids(*first));
  const cache::CacheStats stats = cache_->Stats();
  EXPECT_EQ(stats.kinds[static_cast<size_t>(cache::Kind::kSearchResult)].memory_hits, 2u);
}

TEST_F(ResultCacheTest, WithoutTextTheHitCarriesIdsAndScoresOnly) {
  TextSearchOptions o;
  o.text = "socket buffer";
  o.with_text = false;
  auto first = SearchText(*coll_, &embedder_, nullptr, o, cache_.get());
  ASSERT_TRUE(first.ok());
  o.with_text = true;  // the same ranking: served from the cache, chunks read afresh
  auto second = SearchText(*coll_, &embedder_, nullptr, o, cache_.get());
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->cached);
  ASSERT_EQ(Ids(*second), Ids(*first));
  for (const auto& hit : second->response.hits) EXPECT_FALSE(hit.chunk.text.empty());
}

TEST_F(ResultCacheTest, KeysDifferByEveryOptionAndCollection) {
  OverlapReranker reranker;
  TextSearchOptions base;
  base.text = "memory pages";
  base.rerank = RerankMode::kAuto;
  std::vector<TextSearchOptions> variants(14, base);
  variants[1].limit = 11;
  variants[2].offset = 3;
  variants[3].mode = Mode::kDense;
  variants[4].mode = Mode::kSparse;
  variants[5].fusion = FusionMethod::kDbsf;
  variants[6].rrf_k = 60;
  variants[7].weights = {0.7f, 0.3f};
  variants[8].prefetch_limit = 80;
  variants[9].rerank = RerankMode::kOn;
  variants[10].rerank_top = 30;
  variants[11].hnsw_ef = 200;
  variants[12].exact = true;
  variants[13].oversampling = 2.0f;
  std::set<std::string> keys;
  for (const auto& v : variants) {
    keys.insert(ResultCacheKey(*coll_, coll_->version(), &embedder_, &reranker, v));
  }
  EXPECT_EQ(keys.size(), variants.size());
  EXPECT_TRUE(keys.count(ResultCacheKey(*coll_, coll_->version(), &embedder_, &reranker, base)));
  EXPECT_FALSE(keys.count(ResultCacheKey(*coll_, coll_->version() + 1, &embedder_, &reranker, base)));
  // BM25 sees a bag of analysed terms: a sparse query differing only in case,
  // spacing and word order has the same key.
  TextSearchOptions sparse = base;
  sparse.mode = Mode::kSparse;
  sparse.rerank = RerankMode::kOff;
  TextSearchOptions reworded = sparse;
  reworded.text = "Pages   MEMORY";
  EXPECT_EQ(ResultCacheKey(*coll_, 7, nullptr, nullptr, sparse),
            ResultCacheKey(*coll_, 7, nullptr, nullptr, reworded));
  // A collection of the same name made again (new uid) never shares entries.
  const uint64_t version = coll_->version();
  const std::string before = ResultCacheKey(*coll_, version, nullptr, nullptr, sparse);
  std::string uid = coll_->uid();
  ASSERT_TRUE(engine_->DropCollection("c").ok());
  CollectionOptions co;
  Collection* again = std::move(engine_->GetOrCreateCollection("c", co)).value();
  EXPECT_NE(again->uid(), uid);
  EXPECT_NE(ResultCacheKey(*again, version, nullptr, nullptr, sparse), before);
  coll_ = again;
}

TEST(ResultCacheCodec, RoundTripsAndRejectsDamage) {
  TextSearchResult r;
  r.reranked = true;
  r.response.query_terms = {"memori", "page"};
  for (uint64_t id = 0; id < 5; ++id) {
    SearchHit hit;
    hit.point_id = id * 1000 + 7;
    hit.score = 1.5f / static_cast<float>(id + 1);
    r.response.hits.push_back(hit);
  }
  const std::string bytes = EncodeCachedResult(r);
  TextSearchResult back;
  ASSERT_TRUE(DecodeCachedResult(bytes, &back));
  EXPECT_TRUE(back.reranked);
  EXPECT_FALSE(back.rerank_skipped);
  EXPECT_EQ(back.response.query_terms, r.response.query_terms);
  ASSERT_EQ(back.response.hits.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(back.response.hits[i].point_id, r.response.hits[i].point_id);
    EXPECT_EQ(back.response.hits[i].score, r.response.hits[i].score);
  }
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(DecodeCachedResult(bytes.substr(0, cut), &back)) << cut;
  }
  EXPECT_FALSE(DecodeCachedResult(bytes + "x", &back));
  std::string bad = bytes;
  bad[0] = 'X';
  EXPECT_FALSE(DecodeCachedResult(bad, &back));
  bad = bytes;
  bad[5] = '\xff';  // hit count far beyond the bytes
  EXPECT_FALSE(DecodeCachedResult(bad, &back));
}

}  // namespace
}  // namespace quarry::search
