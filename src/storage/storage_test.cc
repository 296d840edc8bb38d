#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "common/file_util.h"
#include "storage/lmdb_store.h"
#include "storage/records.h"
#include "storage/snapshot_file.h"

namespace quarry::storage {
namespace {

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("quarry_storage_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(SnapshotFileTest, RoundTrip) {
  Snapshot snap{SnapshotKind::kBm25Index, 3, 12345, std::string("payload\0bytes", 13)};
  auto parsed = ParseSnapshot(EncodeSnapshot(snap), SnapshotKind::kBm25Index);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->version, 3u);
  EXPECT_EQ(parsed->seq, 12345u);
  EXPECT_EQ(parsed->payload, snap.payload);
}

TEST(SnapshotFileTest, DetectsEveryTruncationAndBitFlip) {
  Snapshot snap{SnapshotKind::kBm25Index, 1, 7, "some index payload of moderate length"};
  std::string bytes = EncodeSnapshot(snap);
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_FALSE(ParseSnapshot(bytes.substr(0, len), SnapshotKind::kBm25Index).ok()) << len;
  }
  for (size_t pos = 0; pos < bytes.size(); ++pos) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = bytes;
      flipped[pos] ^= static_cast<char>(1 << bit);
      auto parsed = ParseSnapshot(flipped, SnapshotKind::kBm25Index);
      EXPECT_FALSE(parsed.ok()) << "flip at " << pos << " bit " << bit;
      if (!parsed.ok()) {
        EXPECT_TRUE(parsed.status().IsCorruption());
      }
    }
  }
  std::string extended = bytes + "x";
  EXPECT_FALSE(ParseSnapshot(extended, SnapshotKind::kBm25Index).ok());
}

TEST(SnapshotFileTest, FileMissingIsNotFound) {
  TempDir dir;
  auto read = ReadSnapshotFile(dir.path() / "none.snap", SnapshotKind::kBm25Index);
  EXPECT_TRUE(read.status().IsNotFound());
  Snapshot snap{SnapshotKind::kBm25Index, 1, 9, "abc"};
  ASSERT_TRUE(WriteSnapshotFile(dir.path() / "a.snap", snap).ok());
  auto back = ReadSnapshotFile(dir.path() / "a.snap", SnapshotKind::kBm25Index);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->seq, 9u);
}

TEST(RecordsTest, RoundTripAndCorruption) {
  DocRecord doc{"/docs/a.html", "A title", 0xABCDEF, 1700000000000, {1, 2, 99}};
  auto doc_back = DecodeDocRecord(EncodeDocRecord(doc));
  ASSERT_TRUE(doc_back.ok());
  EXPECT_EQ(doc_back->source, doc.source);
  EXPECT_EQ(doc_back->point_ids, doc.point_ids);
  EXPECT_EQ(doc_back->content_hash, doc.content_hash);

  Chunk chunk{"d1", "src", "title", "A > B", "the text", 4, 10, 18};
  auto chunk_back = DecodeChunk(EncodeChunk(chunk));
  ASSERT_TRUE(chunk_back.ok());
  EXPECT_EQ(chunk_back->section, "A > B");
  EXPECT_EQ(chunk_back->text, "the text");
  EXPECT_EQ(chunk_back->end, 18u);

  auto change = DecodeChange(EncodeChange({ChangeOp::kDelete, 77}));
  ASSERT_TRUE(change.ok());
  EXPECT_EQ(change->op, ChangeOp::kDelete);
  EXPECT_EQ(change->point_id, 77u);

  std::vector<float> vec = {1.5f, -2.0f, 0.0f};
  auto vec_back = DecodeVector(EncodeVector(vec));
  ASSERT_TRUE(vec_back.ok());
  EXPECT_EQ(*vec_back, vec);
  EXPECT_FALSE(DecodeVector(EncodeVector(vec).substr(0, 9)).ok());
  EXPECT_EQ(VectorKey(5, "dense").substr(8), "dense");
  EXPECT_LT(VectorKey(5, "zzz"), VectorKey(6, "a"));

  chunk.metadata = R"({"lang":"en"})";
  std::string encoded = EncodeChunk(chunk);
  auto with_metadata = DecodeChunk(encoded);
  ASSERT_TRUE(with_metadata.ok());
  EXPECT_EQ(with_metadata->metadata, chunk.metadata);
  EXPECT_EQ(with_metadata->text, "the text");
  for (size_t len = 0; len < encoded.size(); ++len) {
    EXPECT_FALSE(DecodeChunk(std::string_view(encoded).substr(0, len)).ok());
  }
  EXPECT_FALSE(DecodeChange("\x01\x07\0\0\0\0\0\0\0\0").ok());  // unknown op
  std::mt19937 rng(1);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string junk(rng() % 64, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    (void)DecodeDocRecord(junk);  // must not crash
    (void)DecodeChunk(junk);
  }
}

// Chunk records written before metadata existed (version 1) still decode.
TEST(RecordsTest, ChunkVersion1StillDecodes) {
  std::string v1(1, '\x01');
  auto put_string = [&v1](std::string_view s) {
    PutFixed32(&v1, static_cast<uint32_t>(s.size()));
    v1.append(s);
  };
  for (std::string_view s : {"d1", "src", "title", "A > B", "the text"}) put_string(s);
  PutFixed32(&v1, 4);
  PutFixed64(&v1, 10);
  PutFixed64(&v1, 18);
  auto chunk = DecodeChunk(v1);
  ASSERT_TRUE(chunk.ok()) << chunk.status().ToString();
  EXPECT_EQ(chunk->doc_id, "d1");
  EXPECT_EQ(chunk->section, "A > B");
  EXPECT_EQ(chunk->text, "the text");
  EXPECT_EQ(chunk->chunk_index, 4u);
  EXPECT_EQ(chunk->begin, 10u);
  EXPECT_EQ(chunk->end, 18u);
  EXPECT_EQ(chunk->metadata, "");
  EXPECT_FALSE(DecodeChunk(v1 + "x").ok());  // trailing bytes
  std::string v3 = v1;
  v3[0] = '\x03';
  EXPECT_FALSE(DecodeChunk(v3).ok());  // an unknown version
  // Re-encoding writes the current version, which reads back the same.
  auto again = DecodeChunk(EncodeChunk(*chunk));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->text, "the text");
  EXPECT_EQ(EncodeChunk(*chunk)[0], '\x02');
}

TEST(LmdbStoreTest, PutGetScanAndAbort) {
  TempDir dir;
  auto store = LmdbStore::Open(dir.path() / "store");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  {
    auto txn = (*store)->BeginWrite();
    ASSERT_TRUE(txn.ok());
    for (uint64_t id = 1; id <= 300; ++id) {
      ASSERT_TRUE((*txn)->Put(Table::kPoints, EncodeKey64(id), "v" + std::to_string(id)).ok());
    }
    ASSERT_TRUE((*txn)->Commit().ok());
  }
  {
    auto txn = (*store)->BeginWrite();
    ASSERT_TRUE((*txn)->Put(Table::kPoints, EncodeKey64(1000), "uncommitted").ok());
    // destroyed without commit: aborted
  }
  auto read = (*store)->BeginRead();
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*(*read)->Get(Table::kPoints, EncodeKey64(7)), "v7");
  EXPECT_TRUE((*read)->Get(Table::kPoints, EncodeKey64(1000)).status().IsNotFound());
  EXPECT_EQ(*(*read)->Count(Table::kPoints), 300u);
  std::vector<uint64_t> seen;
  ASSERT_TRUE((*read)->Scan(Table::kPoints, EncodeKey64(250), [&](auto key, auto) {
    seen.push_back(DecodeKey64(key));
    return seen.size() < 10;
  }).ok());
  ASSERT_EQ(seen.size(), 10u);
  EXPECT_EQ(seen.front(), 250u);
  EXPECT_EQ(seen.back(), 259u);
  EXPECT_EQ(*(*read)->Count(Table::kDocs), 0u);
}

// Scans past the bulk threshold switch readahead on and off around
// themselves; overlapping and nested long scans, and ones stopped early, must
// still see every entry in order.
TEST(LmdbStoreTest, LongScansSeeEverythingInOrder) {
  TempDir dir;
  auto store = LmdbStore::Open(dir.path() / "store");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  constexpr uint64_t kEntries = 5000;
  {
    auto txn = (*store)->BeginWrite();
    ASSERT_TRUE(txn.ok());
    for (uint64_t id = 0; id < kEntries; ++id) {
      ASSERT_TRUE((*txn)->Put(Table::kVectors, EncodeKey64(id), std::string(600, 'a' + id % 26)).ok());
    }
    ASSERT_TRUE((*txn)->Commit().ok());
  }
  auto scan_all = [&](uint64_t stop_after) {
    auto read = (*store)->BeginRead();
    EXPECT_TRUE(read.ok());
    uint64_t next = 0;
    bool ordered = true;
    EXPECT_TRUE((*read)->Scan(Table::kVectors, "", [&](auto key, auto value) {
      ordered &= DecodeKey64(key) == next && value.size() == 600 &&
                 value[0] == static_cast<char>('a' + next % 26);
      ++next;
      if (next == 1000) {  // a nested long scan inside this one
        auto inner = (*store)->BeginRead();
        uint64_t inner_count = 0;
        EXPECT_TRUE((*inner)->Scan(Table::kVectors, EncodeKey64(100), [&](auto, auto) {
          return ++inner_count < 2000;
        }).ok());
        EXPECT_EQ(inner_count, 2000u);
      }
      return next < stop_after;
    }).ok());
    EXPECT_TRUE(ordered);
    return next;
  };
  std::vector<std::thread> threads;
  std::vector<uint64_t> seen(4);
  for (size_t t = 0; t < seen.size(); ++t) {
    threads.emplace_back([&, t] { seen[t] = scan_all(t % 2 == 0 ? kEntries : 3000); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen[0], kEntries);
  EXPECT_EQ(seen[1], 3000u);
  EXPECT_EQ(seen[2], kEntries);
  EXPECT_EQ(seen[3], 3000u);
  // Point reads after the scans (readahead back off) still work.
  auto read = (*store)->BeginRead();
  EXPECT_EQ((*(*read)->Get(Table::kVectors, EncodeKey64(4321))).size(), 600u);
}

TEST(LmdbStoreTest, MapFullIsResourceExhaustedAndKeepsData) {
  TempDir dir;
  StoreOptions options;
  options.map_size = 1 << 20;  // 1 MiB: fills quickly
  auto store = LmdbStore::Open(dir.path() / "small", options);
  ASSERT_TRUE(store.ok());
  {
    auto txn = (*store)->BeginWrite();
    ASSERT_TRUE((*txn)->Put(Table::kMeta, "keep", "me").ok());
    ASSERT_TRUE((*txn)->Commit().ok());
  }
  Status failure;
  {
    auto txn = (*store)->BeginWrite();
    std::string big(4000, 'x');
    for (uint64_t id = 0; id < 10000 && failure.ok(); ++id) {
      failure = (*txn)->Put(Table::kPoints, EncodeKey64(id), big);
    }
    if (failure.ok()) failure = (*txn)->Commit();
  }
  ASSERT_FALSE(failure.ok());
  EXPECT_EQ(failure.code(), StatusCode::kResourceExhausted) << failure.ToString();
  auto read = (*store)->BeginRead();
  EXPECT_EQ(*(*read)->Get(Table::kMeta, "keep"), "me");
  EXPECT_EQ(*(*read)->Count(Table::kPoints), 0u);
}

TEST(LmdbStoreTest, UnwritableDirectoryIsAClearError) {
  if (::geteuid() == 0) {
    // root ignores permissions; use a path under a regular file instead.
    TempDir dir;
    std::string file = (dir.path() / "file").string();
    ASSERT_TRUE(WriteFileAtomic(file, "x").ok());
    auto store = LmdbStore::Open(std::filesystem::path(file) / "sub");
    EXPECT_FALSE(store.ok());
    return;
  }
  auto store = LmdbStore::Open("/proc/quarry_cannot_write_here");
  EXPECT_FALSE(store.ok());
}

}  // namespace
}  // namespace quarry::storage
