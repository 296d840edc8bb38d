// Dense vectors in collections: storage, search, recovery.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>

#include "common/file_util.h"
#include "common/hash.h"
#include "quarry/engine.h"

namespace quarry {
namespace {

constexpr size_t kDim = 32;

// A deterministic stand-in for a model: hashed bag of lower-cased words.
std::vector<float> HashEmbed(std::string_view text) {
  std::vector<float> vec(kDim, 0.0f);
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    uint64_t h = Hash64(word);
    vec[h % kDim] += (h >> 32) & 1 ? 1.0f : -1.0f;
    vec[(h >> 8) % kDim] += 0.5f;
    word.clear();
  };
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      flush();
    }
  }
  flush();
  vec[0] += 0.01f;  // never all zero
  return vec;
}

class HashEmbedder : public ChunkEmbedder {
 public:
  Status Embed(const std::vector<const Chunk*>& chunks, const DenseVectorConfig& config,
               std::vector<std::vector<float>>* vectors) override {
    ++calls;
    vectors->clear();
    for (const Chunk* chunk : chunks) {
      auto vec = HashEmbed(chunk->text);
      vec.resize(config.dim + wrong_dim, 0.5f);
      vectors->push_back(std::move(vec));
    }
    return Status::OK();
  }
  int calls = 0;
  size_t wrong_dim = 0;
};

class DenseCollectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("quarry_dense_coll_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Reopen();
  }
  void TearDown() override {
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    engine_.reset();
    EngineOptions options;
    options.data_dir = dir_;
    options.map_size = 1ull << 30;
    engine_ = std::move(Engine::Open(options)).value();
  }
  Collection* Coll(VectorQuantization quantization = VectorQuantization::kNone) {
    CollectionOptions options;
    DenseVectorConfig config;
    config.name = "text";
    config.dim = kDim;
    config.quantization = quantization;
    options.dense_vectors.push_back(config);
    auto coll = engine_->GetOrCreateCollection("c", options);
    EXPECT_TRUE(coll.ok()) << coll.status().ToString();
    return coll.ok() ? *coll : nullptr;
  }
  static std::vector<Document> Corpus(size_t n) {
    const char* words[] = {"walrus", "seal", "otter", "penguin", "puffin", "orca", "krill",
                           "kelp", "reef", "tide", "current", "glacier", "fjord", "iceberg"};
    std::vector<Document> docs;
    for (size_t doc_idx = 0; doc_idx < n; ++doc_idx) {
      Document doc;
      doc.doc_id = "d" + std::to_string(doc_idx);
      doc.source = "/s/" + doc.doc_id;
      doc.title = "T";
      for (size_t w = 0; w < 6; ++w) {
        doc.text += std::string(words[(doc_idx * 7 + w * w * 3 + doc_idx / 5) % 14]) + " ";
      }
      doc.text += "tag" + std::to_string(doc_idx);
      doc.sections.push_back({"", 0, doc.text.size()});
      docs.push_back(std::move(doc));
    }
    return docs;
  }
  std::vector<std::pair<std::string, float>> VectorSearch(Collection* coll, std::string_view text,
                                                          bool exact = false, size_t limit = 5) {
    SearchRequest request;
    request.vector = VectorQuery{"text", HashEmbed(text)};
    request.limit = limit;
    request.exact = exact;
    auto response = coll->Search(request);
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    std::vector<std::pair<std::string, float>> out;
    if (response.ok()) {
      for (const auto& hit : response->hits) out.emplace_back(hit.chunk.doc_id, hit.score);
    }
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(DenseCollectionTest, UpsertWithEmbedderAndSearchByVector) {
  Collection* coll = Coll();
  HashEmbedder embedder;
  auto docs = Corpus(300);
  ASSERT_TRUE(coll->Upsert(docs, &embedder).ok());
  EXPECT_EQ(embedder.calls, 1);
  // A document's own text is its nearest neighbour (cosine 1).
  auto hits = VectorSearch(coll, docs[42].text);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].first, "d42");
  EXPECT_NEAR(hits[0].second, 1.0f, 1e-4);
  EXPECT_EQ(VectorSearch(coll, docs[42].text, /*exact=*/true)[0].first, "d42");
  auto info = coll->Info();
  ASSERT_EQ(info.dense_vectors.size(), 1u);
  EXPECT_EQ(info.dense_vectors[0].vectors, 300u);
  // BM25 still works beside it.
  SearchRequest text;
  text.text = "tag7";
  EXPECT_EQ(coll->Search(text)->hits.at(0).chunk.doc_id, "d7");
}

TEST_F(DenseCollectionTest, BadVectorsAreRejectedAndNothingIsStored) {
  Collection* coll = Coll();
  HashEmbedder embedder;
  embedder.wrong_dim = 1;
  auto result = coll->Upsert(Corpus(3), &embedder);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(coll->Info().documents, 0u);

  SearchRequest request;
  request.vector = VectorQuery{"nope", HashEmbed("x")};
  EXPECT_NE(coll->Search(request).status().message().find("has no vector 'nope'"), std::string::npos);
  request.vector = VectorQuery{"text", std::vector<float>(kDim + 1, 1.0f)};
  EXPECT_EQ(coll->Search(request).status().code(), StatusCode::kInvalidArgument);
  request.vector = VectorQuery{"text", std::vector<float>(kDim, NAN)};
  EXPECT_EQ(coll->Search(request).status().code(), StatusCode::kInvalidArgument);

  CollectionOptions bad;
  bad.dense_vectors.push_back({"a b", 8});
  EXPECT_EQ(engine_->GetOrCreateCollection("bad1", bad).status().code(), StatusCode::kInvalidArgument);
  bad.dense_vectors = {{"v", 0}};
  EXPECT_EQ(engine_->GetOrCreateCollection("bad2", bad).status().code(), StatusCode::kInvalidArgument);
  bad.dense_vectors = {{"v", 8}, {"v", 8}};
  EXPECT_EQ(engine_->GetOrCreateCollection("bad3", bad).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(DenseCollectionTest, DeleteAndReplaceUpdateTheDenseIndex) {
  Collection* coll = Coll();
  HashEmbedder embedder;
  auto docs = Corpus(50);
  ASSERT_TRUE(coll->Upsert(docs, &embedder).ok());
  ASSERT_TRUE(coll->DeleteDocument("d10").ok());
  for (const auto& [id, score] : VectorSearch(coll, docs[10].text, false, 50)) EXPECT_NE(id, "d10");
  Document changed = docs[11];
  changed.text = "completely different narwhal words";
  changed.sections = {{"", 0, changed.text.size()}};
  ASSERT_TRUE(coll->Upsert({changed}, &embedder).ok());
  EXPECT_EQ(VectorSearch(coll, "completely different narwhal words")[0].first, "d11");
  EXPECT_EQ(coll->Info().dense_vectors[0].vectors, 49u);
}

TEST_F(DenseCollectionTest, ReopenLoadsOrRebuildsWithSameResults) {
  auto docs = Corpus(400);
  std::vector<std::pair<std::string, float>> before;
  {
    Collection* coll = Coll(VectorQuantization::kInt8);
    HashEmbedder embedder;
    ASSERT_TRUE(coll->Upsert(docs, &embedder).ok());
    before = VectorSearch(coll, "walrus kelp glacier", /*exact=*/true, 10);
  }
  Reopen();
  auto dense_dir = dir_ / "collections" / "c" / "dense" / "text";
  ASSERT_TRUE(std::filesystem::exists(dense_dir));
  EXPECT_EQ(VectorSearch(Coll(VectorQuantization::kInt8), "walrus kelp glacier", true, 10), before);
  EXPECT_EQ(VectorSearch(Coll(VectorQuantization::kInt8), docs[7].text)[0].first, "d7");
  // Corrupt every snapshot file of the dense index: it is rebuilt from the store.
  engine_.reset();
  for (const auto& entry : std::filesystem::directory_iterator(dense_dir)) {
    auto bytes = ReadFileToString(entry.path());
    ASSERT_TRUE(bytes.ok());
    (*bytes)[bytes->size() / 2] ^= 0x33;
    ASSERT_TRUE(WriteFileAtomic(entry.path(), *bytes).ok());
  }
  Reopen();
  EXPECT_EQ(VectorSearch(Coll(VectorQuantization::kInt8), "walrus kelp glacier", true, 10), before);
  EXPECT_EQ(Coll()->Info().dense_vectors[0].vectors, 400u);
}

TEST_F(DenseCollectionTest, CrashWithoutFlushReplaysVectors) {
  Collection* coll = Coll();
  HashEmbedder embedder;
  ASSERT_TRUE(coll->Upsert(Corpus(100), &embedder).ok());
  ASSERT_TRUE(coll->Flush().ok());
  engine_.reset();
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    EngineOptions options;
    options.data_dir = dir_;
    options.map_size = 1ull << 30;
    auto engine = Engine::Open(options);
    if (!engine.ok()) ::_exit(10);
    auto c = (*engine)->GetCollection("c");
    if (!c.ok()) ::_exit(11);
    HashEmbedder child_embedder;
    Document doc;
    doc.doc_id = "late";
    doc.text = "narwhal tusk unique words";
    doc.sections = {{"", 0, doc.text.size()}};
    if (!(*c)->Upsert({doc}, &child_embedder).ok()) ::_exit(12);
    if (!(*c)->DeleteDocument("d3").ok()) ::_exit(13);
    ::_exit(0);  // no flush
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_EQ(WEXITSTATUS(wstatus), 0);
  Reopen();
  coll = Coll();
  EXPECT_EQ(VectorSearch(coll, "narwhal tusk unique words")[0].first, "late");
  EXPECT_EQ(coll->Info().dense_vectors[0].vectors, 100u);
  for (const auto& [id, score] : VectorSearch(coll, Corpus(4)[3].text, false, 100)) {
    EXPECT_NE(id, "d3");
  }
}

// PrepareUpsert embeds without the write lock; CommitUpsert re-checks the
// store, so a document written in between is replaced by what was prepared
// (or left alone when equal).
TEST_F(DenseCollectionTest, PrepareThenCommit) {
  Collection* coll = Coll();
  HashEmbedder embedder;
  auto docs = Corpus(3);
  auto prepared = coll->PrepareUpsert(docs, &embedder);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  EXPECT_EQ(embedder.calls, 1);
  EXPECT_EQ(coll->Info().documents, 0u);  // nothing written yet
  Document other = docs[0];
  other.text = "narwhal tusk";
  other.sections = {{"", 0, other.text.size()}};
  ASSERT_TRUE(coll->Upsert({other}, &embedder).ok());
  auto stats = coll->CommitUpsert(std::move(prepared).value());
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->added, 2u);
  EXPECT_EQ(stats->replaced, 1u);
  EXPECT_EQ(coll->GetDocumentChunks("d0").value()[0].text, docs[0].text);
  EXPECT_EQ(VectorSearch(coll, docs[0].text)[0].first, "d0");
  // Prepared again while unchanged: nothing is embedded or written.
  int calls = embedder.calls;
  auto again = coll->PrepareUpsert(docs, &embedder);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(embedder.calls, calls);
  EXPECT_EQ(coll->CommitUpsert(std::move(again).value())->unchanged, 3u);
  EXPECT_FALSE(coll->CommitUpsert(nullptr).ok());
}

// The ingest pipeline: an embedder failing on a later batch stops the ingest
// with its error and keeps every batch committed before it.
TEST_F(DenseCollectionTest, IngestStopsAtAnEmbeddingErrorAndKeepsEarlierBatches) {
  class FailingEmbedder : public ChunkEmbedder {
   public:
    Status Embed(const std::vector<const Chunk*>& chunks, const DenseVectorConfig& config,
                 std::vector<std::vector<float>>* vectors) override {
      if (++calls == 3) return Status::Unsupported("model exploded");
      return inner.Embed(chunks, config, vectors);
    }
    HashEmbedder inner;
    int calls = 0;
  };
  auto root = dir_ / "in";
  std::filesystem::create_directories(root);
  for (int i = 0; i < 40; ++i) {
    std::ofstream(root / ("f" + std::to_string(100 + i) + ".txt")) << "walrus seal number " << i << "\n";
  }
  Collection* coll = Coll();
  FailingEmbedder embedder;
  IngestOptions options;
  options.batch_documents = 5;
  options.loader_threads = 1;
  options.embedder = &embedder;
  IngestProgress progress;
  Status status = IngestPaths(coll, {root}, options, nullptr, &progress);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("model exploded"), std::string::npos) << status.ToString();
  EXPECT_EQ(progress.documents, 10u);  // the two batches before the failing one
  EXPECT_EQ(coll->Info().documents, 10u);
  EXPECT_EQ(coll->Info().dense_vectors[0].vectors, 10u);
  // A healthy run afterwards ingests the rest.
  HashEmbedder healthy;
  options.embedder = &healthy;
  ASSERT_TRUE(IngestPaths(coll, {root}, options, nullptr, &progress).ok());
  EXPECT_EQ(coll->Info().documents, 40u);
  EXPECT_EQ(progress.unchanged, 10u);
}

}  // namespace
}  // namespace quarry
