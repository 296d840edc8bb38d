// CachingEmbedder: only misses reach the model, hits are the model's vectors,
// queries and documents and models never share entries, damage reads as a miss.
#include "embed/caching_embedder.h"

#include <gtest/gtest.h>

#include <cctype>

#include "cache/codec.h"

namespace quarry::embed {
namespace {

// A vector from the text's bytes; counts the texts it embeds. InputKey folds
// case, as an uncased tokenizer would.
class CountingEmbedder final : public Embedder {
 public:
  explicit CountingEmbedder(std::string id) : id_(std::move(id)) {}
  size_t dim() const override { return 4; }
  const std::string& model_id() const override { return id_; }
  std::string InputKey(std::string_view text, TextKind) const override {
    std::string key(text);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return key;
  }
  Status Embed(std::span<const std::string_view> texts, TextKind kind,
               std::vector<std::vector<float>>* out) override {
    out->clear();
    for (std::string_view t : texts) {
      const std::string key = InputKey(t, kind);
      float sum = 0;
      for (char c : key) sum += static_cast<unsigned char>(c);
      out->push_back({sum, static_cast<float>(key.size()), kind == TextKind::kQuery ? 1.f : 2.f,
                      static_cast<float>(id_.size())});
      ++embedded;
    }
    return Status::OK();
  }
  int embedded = 0;

 private:
  std::string id_;
};

std::unique_ptr<cache::LayeredCache> MemoryCache(bool chunks_enabled = true) {
  cache::CacheOptions options;
  options.memory_bytes = 1 << 20;
  options.kinds[static_cast<size_t>(cache::Kind::kChunkEmbedding)].enabled = chunks_enabled;
  return std::move(cache::LayeredCache::Open(options)).value();
}

std::vector<std::vector<float>> EmbedAll(Embedder& e, std::vector<std::string_view> texts,
                                    TextKind kind = TextKind::kDocument) {
  std::vector<std::vector<float>> out;
  EXPECT_TRUE(e.Embed(texts, kind, &out).ok());
  return out;
}

TEST(CachingEmbedderTest, OnlyMissesReachTheModelAndHitsEqualItsVectors) {
  auto cache = MemoryCache();
  CountingEmbedder model("m");
  CachingEmbedder cached(&model, cache.get());
  auto first = EmbedAll(cached, {"alpha", "beta", "alpha", "ALPHA"});
  EXPECT_EQ(model.embedded, 2) << "equal input keys within one call are embedded once";
  auto direct = EmbedAll(model, {"alpha", "beta", "alpha", "ALPHA"});
  EXPECT_EQ(first, direct);
  model.embedded = 0;
  auto second = EmbedAll(cached, {"beta", "gamma", "Alpha"});
  EXPECT_EQ(model.embedded, 1);  // gamma only
  EXPECT_EQ(second, EmbedAll(model, {"beta", "gamma", "Alpha"}));
  EXPECT_EQ(cached.computed(), 3u);
  EXPECT_EQ(cached.served_from_cache(), 4u);
}

TEST(CachingEmbedderTest, QueriesDocumentsAndModelsDoNotShareEntries) {
  auto cache = MemoryCache();
  CountingEmbedder a("model-a"), b("model-bb");
  CachingEmbedder ca(&a, cache.get()), cb(&b, cache.get());
  auto doc = EmbedAll(ca, {"text"}, TextKind::kDocument);
  auto query = EmbedAll(ca, {"text"}, TextKind::kQuery);
  EXPECT_EQ(a.embedded, 2);
  EXPECT_NE(doc, query);
  auto other = EmbedAll(cb, {"text"}, TextKind::kDocument);
  EXPECT_EQ(b.embedded, 1);
  EXPECT_NE(other, doc);
  EmbedAll(ca, {"text"}, TextKind::kQuery);
  EXPECT_EQ(a.embedded, 2);
}

TEST(CachingEmbedderTest, DisabledKindPassesThrough) {
  auto cache = MemoryCache(/*chunks_enabled=*/false);
  CountingEmbedder model("m");
  CachingEmbedder cached(&model, cache.get());
  EmbedAll(cached, {"a", "b"});
  EmbedAll(cached, {"a", "b"});
  EXPECT_EQ(model.embedded, 4);
  EmbedAll(cached, {"a"}, TextKind::kQuery);
  EmbedAll(cached, {"a"}, TextKind::kQuery);
  EXPECT_EQ(model.embedded, 5);
}

TEST(CachingEmbedderTest, UndecodableEntryIsRecomputedAndOverwritten) {
  auto cache = MemoryCache();
  CountingEmbedder model("m");
  CachingEmbedder cached(&model, cache.get());
  const std::string key = model.fingerprint() + ":d:" + model.InputKey("x", TextKind::kDocument);
  cache->Put(cache::Kind::kChunkEmbedding, key, "garbage");
  auto got = EmbedAll(cached, {"x"});
  EXPECT_EQ(model.embedded, 1);
  EXPECT_EQ(got, EmbedAll(model, {"x"}));
  // Wrong dimension: also a miss.
  const std::vector<float> three = {1, 2, 3};
  cache->Put(cache::Kind::kChunkEmbedding, key, cache::EncodeFloats(three));
  model.embedded = 0;
  EmbedAll(cached, {"x"});
  EXPECT_EQ(model.embedded, 1);
  model.embedded = 0;
  EmbedAll(cached, {"x"});
  EXPECT_EQ(model.embedded, 0) << "the recomputed vector replaced the bad entry";
}

}  // namespace
}  // namespace quarry::embed
