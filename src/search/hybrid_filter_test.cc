// Filtered text search: the filter reaches both retrievers, so a filtered
// hybrid search equals the fusion of the filtered prefetches.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>

#include "common/hash.h"
#include "quarry/engine.h"
#include "search/hybrid.h"
#include "search/test_embedder.h"

namespace quarry::search {
namespace {

constexpr size_t kDim = 16;

using testing::HashEmbedder;

TEST(HybridFilterTest, FilterReachesBothRetrievers) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("quarry_hybrid_filter_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  EngineOptions engine_options;
  engine_options.data_dir = dir;
  engine_options.map_size = 1ull << 30;
  auto engine = std::move(Engine::Open(engine_options)).value();
  CollectionOptions options;
  DenseVectorConfig dense;
  dense.name = "text";
  dense.dim = kDim;
  options.dense_vectors.push_back(dense);
  Collection* coll = std::move(engine->GetOrCreateCollection("c", options)).value();
  const char* topics[] = {"kernel memory allocator", "network socket buffer", "file system journal",
                          "process scheduler latency", "memory pages swap"};
  std::vector<Document> docs;
  for (int i = 0; i < 80; ++i) {
    Document d;
    d.doc_id = "doc" + std::to_string(i);
    d.text = std::string(topics[i % 5]) + " note " + std::to_string(i) + " " + topics[(i * 3 + 1) % 5];
    d.metadata = "{\"even\": " + std::string(i % 2 == 0 ? "true" : "false") + ", \"i\": " +
                 std::to_string(i) + "}";
    docs.push_back(std::move(d));
  }
  HashEmbedder embedder(kDim);
  EmbedderChunkAdapter adapter(&embedder);
  ASSERT_TRUE(coll->Upsert(std::move(docs), &adapter).ok());

  Filter filter;
  filter.must.push_back(Condition::Match("even", true));
  filter.must_not.push_back(Condition::Range("i", {.gte = 60.0}));
  for (const char* query : {"memory allocator", "socket latency", "journal swap pages"}) {
    TextSearchOptions o;
    o.text = query;
    o.limit = 7;
    o.filter = filter;
    auto result = SearchText(*coll, &embedder, nullptr, o);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    // The reference: each retriever's filtered prefetch, fused here.
    std::vector<std::vector<float>> q;
    std::string_view text = query;
    ASSERT_TRUE(embedder.Embed({&text, 1}, embed::TextKind::kQuery, &q).ok());
    std::vector<Scored> lists[2];
    for (int retriever = 0; retriever < 2; ++retriever) {
      SearchRequest request;
      if (retriever == 0) {
        request.vector = VectorQuery{"text", q[0]};
        request.exact = true;
      } else {
        request.text = query;
      }
      request.limit = 50;
      request.filter = filter;
      auto response = coll->Search(request);
      ASSERT_TRUE(response.ok());
      for (const auto& hit : response->hits) lists[retriever].push_back({hit.point_id, hit.score});
    }
    auto fused = FuseRrf(lists, kDefaultRrfK, {});
    ASSERT_TRUE(fused.ok());
    ASSERT_EQ(result->response.hits.size(), std::min<size_t>(7, fused->size())) << query;
    for (size_t i = 0; i < result->response.hits.size(); ++i) {
      const SearchHit& hit = result->response.hits[i];
      EXPECT_EQ(hit.point_id, (*fused)[i].id) << query << " rank " << i;
      const size_t n = std::stoul(hit.chunk.doc_id.substr(3));
      EXPECT_TRUE(n % 2 == 0 && n < 60) << hit.chunk.doc_id;
    }
    // Single modes filter too.
    for (Mode mode : {Mode::kDense, Mode::kSparse}) {
      o.mode = mode;
      auto single = SearchText(*coll, &embedder, nullptr, o);
      ASSERT_TRUE(single.ok());
      for (const SearchHit& hit : single->response.hits) {
        const size_t n = std::stoul(hit.chunk.doc_id.substr(3));
        EXPECT_TRUE(n % 2 == 0 && n < 60) << hit.chunk.doc_id;
      }
    }
  }
  engine.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace quarry::search
