// LmdbStore: the durable truth of one collection, in an LMDB environment.
//
// Tables (LMDB named databases):
//   meta     string key -> bytes     collection config, counters
//   docs     doc_id -> DocRecord     one per document: source, hash, point ids
//   points   u64 BE -> PointRecord   one per chunk: text and payload
//   changes  u64 BE seq -> Change    upserts/deletes of points since the last
//                                    index snapshot (pruned after each snapshot)
//   vectors  u64 BE point id + name  the point's named dense vector (floats)
//
// A write transaction that returned OK from Commit() is durable (LMDB syncs on
// commit). Failed commits (disk full, map full) leave the store as it was.
//
// Thread-safety: the store may be shared by threads. One write transaction at
// a time (LMDB serialises them); read transactions run concurrently. A Txn
// object belongs to the thread that began it.
#ifndef QUARRY_STORAGE_LMDB_STORE_H_
#define QUARRY_STORAGE_LMDB_STORE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "quarry/status.h"

struct MDB_env;
struct MDB_txn;

namespace quarry::storage {

enum class Table { kMeta = 0, kDocs = 1, kPoints = 2, kChanges = 3, kVectors = 4 };
inline constexpr int kTableCount = 5;

struct StoreOptions {
  uint64_t map_size = 64ull << 30;  // address space reserved; the file grows as needed
  bool read_only = false;
};

class LmdbStore;

class Txn {
 public:
  ~Txn();  // aborts when not committed
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  // NotFound when absent. The view is valid until the transaction ends or the
  // next write in it.
  Result<std::string_view> Get(Table table, std::string_view key) const;
  Status Put(Table table, std::string_view key, std::string_view value);
  // OK also when absent.
  Status Delete(Table table, std::string_view key);
  // Visits entries with key >= `from` in key order until `fn` returns false.
  Status Scan(Table table, std::string_view from,
              const std::function<bool(std::string_view key, std::string_view value)>& fn) const;
  Result<uint64_t> Count(Table table) const;
  Status Commit();

 private:
  friend class LmdbStore;
  Txn(const LmdbStore* store, MDB_txn* txn) : store_(store), txn_(txn) {}
  const LmdbStore* store_;
  MDB_txn* txn_;
};

struct StoreStats {
  uint64_t file_bytes = 0;     // size of data.mdb on disk
  uint64_t used_bytes = 0;     // pages in use
  uint64_t map_size = 0;
};

class LmdbStore {
 public:
  // Creates `dir` when missing. IOError/ResourceExhausted with a clear message
  // when the directory is unwritable or the disk is full.
  static Result<std::unique_ptr<LmdbStore>> Open(const std::filesystem::path& dir,
                                                 StoreOptions options = {});
  ~LmdbStore();

  Result<std::unique_ptr<Txn>> BeginWrite();
  Result<std::unique_ptr<Txn>> BeginRead() const;
  StoreStats Stats() const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  friend class Txn;
  LmdbStore() = default;
  // Readahead on (begin) or back off (end) around a long scan; counted, so
  // overlapping scans keep it on until the last ends.
  void BulkRead(bool begin) const;
  void FindMap();
  MDB_env* env_ = nullptr;
  void* map_addr_ = nullptr;
  size_t map_bytes_ = 0;
  mutable std::atomic<int> bulk_reads_{0};
  unsigned dbis_[kTableCount] = {};
  std::filesystem::path dir_;
  StoreOptions options_;
};

// Maps an LMDB return code to a Status (MDB_MAP_FULL/ENOSPC -> ResourceExhausted).
Status LmdbStatus(int rc, std::string_view what);

}  // namespace quarry::storage

#endif  // QUARRY_STORAGE_LMDB_STORE_H_
