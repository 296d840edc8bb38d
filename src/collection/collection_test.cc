#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <thread>

#include "common/file_util.h"
#include "quarry/engine.h"

namespace quarry {
namespace {

class CollectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("quarry_coll_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Reopen();
  }
  void TearDown() override {
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen(uint64_t map_size = 1ull << 30) {
    engine_.reset();
    EngineOptions options;
    options.data_dir = dir_;
    options.map_size = map_size;
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
  }
  Collection* Coll(CollectionOptions options = {}) {
    auto coll = engine_->GetOrCreateCollection("c", options);
    EXPECT_TRUE(coll.ok()) << coll.status().ToString();
    return coll.ok() ? *coll : nullptr;
  }
  static Document Doc(std::string id, std::string title, std::string text) {
    Document doc;
    doc.doc_id = id;
    doc.source = "/src/" + id;
    doc.title = std::move(title);
    doc.text = std::move(text);
    doc.sections.push_back({"", 0, doc.text.size()});
    return doc;
  }
  std::vector<std::string> SearchIds(Collection* coll, const std::string& text, size_t limit = 10) {
    SearchRequest request;
    request.text = text;
    request.limit = limit;
    auto response = coll->Search(request);
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    std::vector<std::string> ids;
    if (response.ok()) {
      for (const auto& hit : response->hits) ids.push_back(hit.chunk.doc_id);
    }
    return ids;
  }
  std::vector<std::pair<uint64_t, float>> Ranking(Collection* coll, const std::string& text) {
    SearchRequest request;
    request.text = text;
    request.limit = 50;
    auto response = coll->Search(request);
    std::vector<std::pair<uint64_t, float>> out;
    for (const auto& hit : response->hits) out.emplace_back(hit.point_id, hit.score);
    return out;
  }
  std::vector<Document> RandomCorpus(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    const char* words[] = {"vacuum", "index", "replication", "query", "planner", "backup",
                           "table", "lock", "transaction", "wal", "checkpoint", "autovacuum",
                           "partition", "trigger", "sequence", "tablespace", "role", "grant"};
    std::vector<Document> docs;
    for (size_t doc_idx = 0; doc_idx < n; ++doc_idx) {
      std::string text;
      size_t len = 20 + rng() % 200;
      for (size_t w = 0; w < len; ++w) {
        text += words[rng() % std::size(words)];
        text += (w % 17 == 16) ? ".\n\n" : " ";
      }
      docs.push_back(Doc("doc" + std::to_string(doc_idx), std::string(words[rng() % 18]) + " guide", text));
    }
    return docs;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(CollectionTest, UpsertSearchAndPayload) {
  Collection* coll = Coll();
  std::vector<Document> docs = {
      Doc("a", "Routine Vacuuming", "VACUUM reclaims storage occupied by dead tuples."),
      Doc("b", "Backup and Restore", "pg_dump makes consistent backups of a database."),
      Doc("c", "Locking", "Explicit table locks and row locks control concurrent access.")};
  auto stats = coll->Upsert(docs);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->added, 3u);
  EXPECT_EQ(stats->chunks_written, 3u);
  EXPECT_EQ(SearchIds(coll, "how to vacuum dead tuples"), std::vector<std::string>{"a"});
  EXPECT_EQ(SearchIds(coll, "backups")[0], "b");
  EXPECT_TRUE(SearchIds(coll, "zebra giraffe").empty());

  SearchRequest request;
  request.text = "lock";
  auto response = coll->Search(request);
  ASSERT_TRUE(response.ok());
  ASSERT_EQ(response->hits.size(), 1u);
  const Chunk& chunk = response->hits[0].chunk;
  EXPECT_EQ(chunk.doc_id, "c");
  EXPECT_EQ(chunk.title, "Locking");
  EXPECT_EQ(chunk.source, "/src/c");
  EXPECT_EQ(chunk.text, docs[2].text);
  EXPECT_GT(response->hits[0].score, 0.0f);
  EXPECT_EQ(coll->Info().documents, 3u);
}

TEST_F(CollectionTest, ReupsertIsIdempotentAndReplaces) {
  Collection* coll = Coll();
  ASSERT_TRUE(coll->Upsert({Doc("a", "T", "alpha beta gamma")}).ok());
  auto again = coll->Upsert({Doc("a", "T", "alpha beta gamma")});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->unchanged, 1u);
  EXPECT_EQ(again->chunks_written, 0u);
  EXPECT_EQ(coll->Info().chunks, 1u);

  auto changed = coll->Upsert({Doc("a", "T", "delta epsilon")});
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->replaced, 1u);
  EXPECT_EQ(changed->chunks_deleted, 1u);
  EXPECT_EQ(coll->Info().chunks, 1u);
  EXPECT_TRUE(SearchIds(coll, "alpha").empty());
  EXPECT_EQ(SearchIds(coll, "epsilon"), std::vector<std::string>{"a"});

  // The same id twice in one batch: the last version wins.
  ASSERT_TRUE(coll->Upsert({Doc("b", "T", "first version"), Doc("b", "T", "second version")}).ok());
  EXPECT_TRUE(SearchIds(coll, "first").empty());
  EXPECT_EQ(SearchIds(coll, "second"), std::vector<std::string>{"b"});
  EXPECT_EQ(coll->Info().documents, 2u);
}

TEST_F(CollectionTest, DeleteDocumentAndBySource) {
  Collection* coll = Coll();
  ASSERT_TRUE(coll->Upsert({Doc("a", "T", "shared word one"), Doc("b", "T", "shared word two"),
                            Doc("c", "T", "shared word three")})
                  .ok());
  auto deleted = coll->DeleteDocument("b");
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 1u);
  EXPECT_TRUE(coll->DeleteDocument("b").status().IsNotFound());
  auto ids = SearchIds(coll, "shared");
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "c"}));
  auto by_source = coll->DeleteBySourcePrefix("/src/");
  ASSERT_TRUE(by_source.ok());
  EXPECT_EQ(*by_source, 2u);
  EXPECT_TRUE(SearchIds(coll, "shared").empty());
  EXPECT_EQ(coll->Info().documents, 0u);
  EXPECT_EQ(coll->Info().chunks, 0u);
}

TEST_F(CollectionTest, ReopenLoadsSnapshotWithSameResults) {
  Collection* coll = Coll();
  ASSERT_TRUE(coll->Upsert(RandomCorpus(300, 1)).ok());
  ASSERT_TRUE(coll->DeleteDocument("doc7").ok());
  auto before = Ranking(coll, "vacuum checkpoint replication");
  ASSERT_FALSE(before.empty());
  Reopen();
  coll = Coll();
  auto info = coll->Info();
  EXPECT_EQ(info.snapshot_seq, info.last_seq);
  EXPECT_EQ(Ranking(coll, "vacuum checkpoint replication"), before);
}

TEST_F(CollectionTest, CorruptOrMissingSnapshotIsRebuilt) {
  Collection* coll = Coll();
  ASSERT_TRUE(coll->Upsert(RandomCorpus(200, 2)).ok());
  auto before = Ranking(coll, "partition trigger grant");
  Reopen();
  auto snap = dir_ / "collections" / "c" / "bm25.snap";
  ASSERT_TRUE(std::filesystem::exists(snap));
  engine_.reset();
  // Flip one byte in the middle of the snapshot.
  auto bytes = ReadFileToString(snap);
  ASSERT_TRUE(bytes.ok());
  (*bytes)[bytes->size() / 2] ^= 0x5A;
  ASSERT_TRUE(WriteFileAtomic(snap, *bytes).ok());
  Reopen();
  EXPECT_EQ(Ranking(Coll(), "partition trigger grant"), before);
  // Truncated (torn) snapshot.
  engine_.reset();
  ASSERT_TRUE(WriteFileAtomic(snap, bytes->substr(0, bytes->size() / 3)).ok());
  Reopen();
  EXPECT_EQ(Ranking(Coll(), "partition trigger grant"), before);
  // Missing snapshot, and a temporary file left by a crash mid-write.
  engine_.reset();
  ASSERT_TRUE(WriteFileAtomic(snap.string() + ".tmp.1.2", "partial").ok());
  std::filesystem::remove(snap);
  Reopen();
  EXPECT_EQ(Ranking(Coll(), "partition trigger grant"), before);
  EXPECT_TRUE(std::filesystem::exists(snap));  // rewritten after the rebuild
  EXPECT_FALSE(std::filesystem::exists(snap.string() + ".tmp.1.2"));
}

TEST_F(CollectionTest, StaleSnapshotAfterPruneIsRebuilt) {
  Collection* coll = Coll();
  ASSERT_TRUE(coll->Upsert(RandomCorpus(50, 3)).ok());
  ASSERT_TRUE(coll->Flush().ok());
  auto snap = dir_ / "collections" / "c" / "bm25.snap";
  auto old_snapshot = ReadFileToString(snap);
  ASSERT_TRUE(old_snapshot.ok());
  ASSERT_TRUE(coll->Upsert({Doc("late", "Late", "zeppelin airship")}).ok());
  ASSERT_TRUE(coll->DeleteDocument("doc1").ok());
  Reopen();  // flushes and prunes the change log
  engine_.reset();
  ASSERT_TRUE(WriteFileAtomic(snap, *old_snapshot).ok());  // an old snapshot comes back
  Reopen();
  coll = Coll();
  EXPECT_EQ(SearchIds(coll, "zeppelin"), std::vector<std::string>{"late"});
  EXPECT_EQ(coll->Info().chunks + 0, coll->Info().chunks);
  for (const auto& id : SearchIds(coll, "vacuum index table", 100)) EXPECT_NE(id, "doc1");
}

// A process that dies without flushing leaves the snapshot behind the store;
// the next open replays the change log.
TEST_F(CollectionTest, CrashWithoutFlushReplaysChanges) {
  Collection* coll = Coll();
  ASSERT_TRUE(coll->Upsert(RandomCorpus(100, 4)).ok());
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
    auto c = (*engine)->GetOrCreateCollection("c", {});
    if (!c.ok()) ::_exit(11);
    if (!(*c)->Upsert({Doc("crash", "Crash", "kumquat persimmon")}).ok()) ::_exit(12);
    if (!(*c)->DeleteDocument("doc3").ok()) ::_exit(13);
    if (!(*c)->Upsert({Doc("doc5", "Changed", "rewritten kumquat")}).ok()) ::_exit(14);
    ::_exit(0);  // no destructors: no snapshot written
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  ASSERT_EQ(WEXITSTATUS(wstatus), 0);
  Reopen();
  coll = Coll();
  auto ids = SearchIds(coll, "kumquat");
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"crash", "doc5"}));
  for (const auto& id : SearchIds(coll, "vacuum index table", 200)) EXPECT_NE(id, "doc3");
  // The replayed index ranks exactly like one rebuilt from scratch.
  auto replayed = Ranking(coll, "vacuum lock kumquat");
  engine_.reset();
  std::filesystem::remove(dir_ / "collections" / "c" / "bm25.snap");
  Reopen();
  EXPECT_EQ(Ranking(Coll(), "vacuum lock kumquat"), replayed);
}

TEST_F(CollectionTest, FullStoreFailsCleanlyAndKeepsData) {
  Reopen(2ull << 20);  // a 2 MiB store
  Collection* coll = Coll();
  ASSERT_TRUE(coll->Upsert({Doc("keep", "Keep", "precious data")}).ok());
  std::vector<Document> big;
  for (int doc_idx = 0; doc_idx < 200; ++doc_idx) {
    big.push_back(Doc("big" + std::to_string(doc_idx), "Big", std::string(20000, 'x') + " filler"));
  }
  auto result = coll->Upsert(big);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kResourceExhausted) << result.status().ToString();
  EXPECT_EQ(coll->Info().documents, 1u);
  EXPECT_EQ(SearchIds(coll, "precious"), std::vector<std::string>{"keep"});
  EXPECT_TRUE(SearchIds(coll, "filler").empty());
  Reopen(2ull << 20);
  EXPECT_EQ(SearchIds(Coll(), "precious"), std::vector<std::string>{"keep"});
}

TEST_F(CollectionTest, ConcurrentSearchesDuringWrites) {
  Collection* coll = Coll();
  ASSERT_TRUE(coll->Upsert(RandomCorpus(100, 5)).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int reader = 0; reader < 3; ++reader) {
    readers.emplace_back([&] {
      while (!stop) {
        SearchRequest request;
        request.text = "vacuum wal checkpoint";
        if (!coll->Search(request).ok()) ++failures;
      }
    });
  }
  auto corpus = RandomCorpus(400, 6);
  for (size_t start = 0; start < corpus.size(); start += 50) {
    std::vector<Document> batch(corpus.begin() + start, corpus.begin() + start + 50);
    ASSERT_TRUE(coll->Upsert(batch).ok());
  }
  stop = true;
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(coll->Info().documents, 400u);
}

TEST_F(CollectionTest, EngineNamesAndErrors) {
  EXPECT_FALSE(Engine::ValidateCollectionName("").ok());
  EXPECT_FALSE(Engine::ValidateCollectionName("../etc").ok());
  EXPECT_FALSE(Engine::ValidateCollectionName(".hidden").ok());
  EXPECT_FALSE(Engine::ValidateCollectionName(std::string(65, 'a')).ok());
  EXPECT_TRUE(Engine::ValidateCollectionName("docs-v2.1_x").ok());
  auto missing = engine_->GetCollection("nope");
  EXPECT_TRUE(missing.status().IsNotFound());
  ASSERT_NE(Coll(), nullptr);
  auto still_missing = engine_->GetCollection("nope");
  EXPECT_NE(still_missing.status().message().find("c"), std::string::npos);
  EXPECT_EQ(engine_->ListCollections(), std::vector<std::string>{"c"});
  EXPECT_TRUE(engine_->DropCollection("c").ok());
  EXPECT_TRUE(engine_->ListCollections().empty());
  EXPECT_TRUE(engine_->DropCollection("c").IsNotFound());

  CollectionOptions bad;
  bad.bm25_b = 2.0f;
  EXPECT_EQ(engine_->GetOrCreateCollection("x", bad).status().code(), StatusCode::kInvalidArgument);
  SearchRequest request;
  request.limit = 0;
  EXPECT_EQ(Coll()->Search(request).status().code(), StatusCode::kInvalidArgument);
  request.limit = 10;
  request.text = std::string(1 << 20, 'a');
  EXPECT_EQ(Coll()->Search(request).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(CollectionTest, OptionsPersistAcrossReopen) {
  CollectionOptions options;
  options.chunk_max_tokens = 64;
  options.bm25_k1 = 1.5f;
  options.title_boost = 2.0f;
  ASSERT_NE(Coll(options), nullptr);
  Reopen();
  Collection* coll = Coll();  // default options requested: the stored ones win
  EXPECT_EQ(coll->options().chunk_max_tokens, 64u);
  EXPECT_FLOAT_EQ(coll->options().bm25_k1, 1.5f);
  EXPECT_FLOAT_EQ(coll->options().title_boost, 2.0f);
}

// One writer process per collection; readers get a read-only view meanwhile.
TEST_F(CollectionTest, SecondProcessIsLockedOutOrReadsOnly) {
  ASSERT_TRUE(Coll()->Upsert({Doc("a", "T", "walrus tusk")}).ok());
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    EngineOptions options;
    options.data_dir = dir_;
    options.map_size = 1ull << 30;
    auto writer = Engine::Open(options);
    if (!writer.ok()) ::_exit(10);
    auto busy = (*writer)->GetOrCreateCollection("c", {});
    if (busy.ok() || busy.status().code() != StatusCode::kFailedPrecondition) ::_exit(11);
    if (busy.status().message().find("another quarry process") == std::string::npos) ::_exit(12);
    options.read_only_when_busy = true;
    auto reader = Engine::Open(options);
    auto coll = (*reader)->GetCollection("c");
    if (!coll.ok() || !(*coll)->Info().read_only) ::_exit(13);
    SearchRequest request;
    request.text = "walrus";
    auto found = (*coll)->Search(request);
    if (!found.ok() || found->hits.size() != 1) ::_exit(14);
    if ((*coll)->Upsert({Doc("b", "T", "x")}).ok()) ::_exit(15);
    ::_exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  // Closing releases the lock: a new writer gets in.
  Reopen();
  EXPECT_TRUE(Coll()->Upsert({Doc("b", "T", "seal")}).ok());
}

TEST_F(CollectionTest, UnwritableDataDirectory) {
  std::string file = (dir_ / "plainfile").string();
  ASSERT_TRUE(WriteFileAtomic(file, "x").ok());
  EngineOptions options;
  options.data_dir = std::filesystem::path(file) / "data";
  auto engine = Engine::Open(options);
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find("cannot create data directory"), std::string::npos);
}

// --- IngestPaths over real files -------------------------------------------

void WriteText(const std::filesystem::path& path, std::string_view text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

TEST_F(CollectionTest, IngestFolderWithGoodAndBadFiles) {
  auto root = dir_ / "docs";
  WriteText(root / "guide.md", "# Guide\n\nInstall the package.\n\n## Usage\n\nRun quarry search.\n");
  WriteText(root / "page.html",
            "<html><head><title>Page</title></head><body><h1>Page</h1><p>Hello HTML world.</p>"
            "</body></html>");
  WriteText(root / "notes.txt", "Notes\n\nPlain text about zebras.\n");
  WriteText(root / "corpus.jsonl",
            "{\"_id\": \"d1\", \"title\": \"One\", \"text\": \"first record\"}\n"
            "{\"_id\": \"d2\", \"title\": \"Two\", \"text\": \"second rec\n"
            "{\"_id\": \"d3\", \"title\": \"Three\", \"text\": \"third record\"}\n");
  WriteText(root / "empty.txt", "");
  WriteText(root / "binary.txt", std::string("\x7f" "ELF\0\0\0\x01\x02\x03", 10) + std::string(100, '\0'));
  WriteText(root / "image.png", "not really a png");
  WriteText(root / ".hidden" / "secret.md", "# Secret\n\nhidden words\n");
  Collection* coll = Coll();
  IngestProgress progress;
  int callbacks = 0;
  Status status = IngestPaths(coll, {root}, IngestOptions{}, [&](const IngestProgress&) { ++callbacks; },
                              &progress);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_GT(callbacks, 0);
  EXPECT_EQ(progress.documents, 5u);  // md, html, txt, 2 good JSONL lines
  EXPECT_EQ(progress.skipped_files, 2u);  // empty, binary
  EXPECT_EQ(progress.bad_lines, 1u);
  EXPECT_EQ(progress.unsupported_files, 1u);  // png
  EXPECT_FALSE(progress.first_errors.empty());
  EXPECT_EQ(SearchIds(coll, "zebras").size(), 1u);
  EXPECT_EQ(SearchIds(coll, "third"), std::vector<std::string>{"d3"});
  EXPECT_TRUE(SearchIds(coll, "hidden").empty());
  auto usage = SearchIds(coll, "usage");
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0], std::filesystem::absolute(root / "guide.md").lexically_normal().string());

  // Re-ingest: nothing changes. Then edit one file: it is replaced, not duplicated.
  IngestProgress again;
  ASSERT_TRUE(IngestPaths(coll, {root}, IngestOptions{}, nullptr, &again).ok());
  EXPECT_EQ(again.documents, 0u);
  EXPECT_EQ(again.unchanged, 5u);
  uint64_t chunks = coll->Info().chunks;
  WriteText(root / "notes.txt", "Notes\n\nPlain text about giraffes now.\n");
  IngestProgress edited;
  ASSERT_TRUE(IngestPaths(coll, {root}, IngestOptions{}, nullptr, &edited).ok());
  EXPECT_EQ(edited.replaced, 1u);
  EXPECT_EQ(coll->Info().chunks, chunks);
  EXPECT_TRUE(SearchIds(coll, "zebras").empty());
  EXPECT_EQ(SearchIds(coll, "giraffes").size(), 1u);
}

TEST_F(CollectionTest, IngestExtensionFilterAndMissingPath) {
  auto root = dir_ / "mixed";
  WriteText(root / "a.md", "# A\n\nmarkdown words\n");
  WriteText(root / "b.txt", "text words\n");
  IngestOptions options;
  options.extensions = {"md"};
  IngestProgress progress;
  ASSERT_TRUE(IngestPaths(Coll(), {root, dir_ / "does-not-exist"}, options, nullptr, &progress).ok());
  EXPECT_EQ(progress.documents, 1u);
  EXPECT_EQ(progress.skipped_files, 1u);
  ASSERT_FALSE(progress.first_errors.empty());
  EXPECT_NE(progress.first_errors[0].find("no such file"), std::string::npos);
}

}  // namespace
}  // namespace quarry
