#include "storage/lmdb_store.h"

#include <lmdb.h>
#include <sys/mman.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <system_error>

#include "common/file_util.h"

namespace quarry::storage {
namespace {

constexpr unsigned kMissingTable = ~0u;

constexpr const char* kTableNames[kTableCount] = {"meta", "docs", "points", "changes", "vectors"};

MDB_val ToVal(std::string_view s) {
  MDB_val v;
  v.mv_size = s.size();
  v.mv_data = const_cast<char*>(s.data());
  return v;
}

std::string_view FromVal(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

}  // namespace

Status LmdbStatus(int rc, std::string_view what) {
  if (rc == MDB_SUCCESS) return Status::OK();
  std::string msg(what);
  msg += ": ";
  msg += mdb_strerror(rc);
  switch (rc) {
    case MDB_NOTFOUND: return Status::NotFound(std::move(msg));
    case MDB_MAP_FULL:
      return Status::ResourceExhausted(msg + " (the store reached its map size; raise --map-size)");
    case ENOSPC:
    case EFBIG:
    case EDQUOT:
      return Status::ResourceExhausted(msg + " (disk full?)");
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return Status::Corruption(std::move(msg));
    case EIO:
      // LMDB reports a short write (the usual face of a full disk or a file
      // size limit) as EIO.
      return Status::IOError(msg + " (disk full or failing?)");
    case EACCES:
    case EROFS:
      return Status::IOError(msg + " (is the data directory writable?)");
    default: return Status::IOError(std::move(msg));
  }
}

Result<std::unique_ptr<LmdbStore>> LmdbStore::Open(const std::filesystem::path& dir,
                                                   StoreOptions options) {
  std::error_code ec;
  if (!options.read_only) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return ErrnoStatus("cannot create " + dir.string(), ec.value());
  } else if (!std::filesystem::is_directory(dir, ec)) {
    return Status::NotFound("no store at " + dir.string());
  }
  std::unique_ptr<LmdbStore> store(new LmdbStore());
  store->dir_ = dir;
  store->options_ = options;
  int rc = mdb_env_create(&store->env_);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "mdb_env_create");
  mdb_env_set_maxdbs(store->env_, kTableCount);
  mdb_env_set_maxreaders(store->env_, 512);
  rc = mdb_env_set_mapsize(store->env_, options.map_size);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "mdb_env_set_mapsize");
  // No readahead: queries read a few chunks at random from a file that may be
  // far larger than memory, and the kernel's readahead turns each such 4 KiB
  // read into 128 KiB or more (slow on a cold cache, and every page read in is
  // mapped into this process). Long scans turn it back on (BulkRead).
  unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
  if (options.read_only) flags |= MDB_RDONLY;
  rc = mdb_env_open(store->env_, dir.c_str(), flags, 0644);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "cannot open store in " + dir.string());

  MDB_txn* txn = nullptr;
  rc = mdb_txn_begin(store->env_, nullptr, options.read_only ? MDB_RDONLY : 0, &txn);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "cannot begin transaction in " + dir.string());
  for (int table = 0; table < kTableCount; ++table) {
    MDB_dbi dbi;
    rc = mdb_dbi_open(txn, kTableNames[table], options.read_only ? 0 : MDB_CREATE, &dbi);
    if (rc == MDB_NOTFOUND && options.read_only) {
      // A store written before this table existed: it reads as empty.
      store->dbis_[table] = kMissingTable;
      continue;
    }
    if (rc != MDB_SUCCESS) {
      mdb_txn_abort(txn);
      return LmdbStatus(rc, std::string("cannot open table ") + kTableNames[table]);
    }
    store->dbis_[table] = dbi;
  }
  rc = mdb_txn_commit(txn);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "cannot initialise store in " + dir.string());
  store->FindMap();
  return store;
}

// LMDB reports its map address only for MDB_FIXEDMAP, so it is looked up in
// /proc/self/maps: the mapping of this store's data.mdb. (A value read through
// the store would pin down the mapping, but a new store has none to read. If
// one process maps the same file twice, the advice may reach the other
// mapping: a hint, so that costs only speed.)
void LmdbStore::FindMap() {
  std::error_code ec;
  const std::string file = std::filesystem::canonical(dir_ / "data.mdb", ec).string();
  if (ec) return;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (!line.ends_with(" " + file)) continue;
    uintptr_t start = 0, end = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &start, &end) == 2 && end > start) {
      map_addr_ = reinterpret_cast<void*>(start);
      map_bytes_ = end - start;
      return;
    }
  }
}

void LmdbStore::BulkRead(bool begin) const {
  if (map_addr_ == nullptr) return;
  // The first scan to begin and the last to end switch the advice; a race
  // between them costs only speed.
  const int before = bulk_reads_.fetch_add(begin ? 1 : -1, std::memory_order_acq_rel);
  if (begin ? before == 0 : before == 1) {
    ::madvise(map_addr_, map_bytes_, begin ? MADV_NORMAL : MADV_RANDOM);
  }
}

LmdbStore::~LmdbStore() {
  if (env_ != nullptr) mdb_env_close(env_);
}

Result<std::unique_ptr<Txn>> LmdbStore::BeginWrite() {
  if (options_.read_only) return Status::FailedPrecondition("store opened read-only");
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "cannot begin write transaction");
  return std::unique_ptr<Txn>(new Txn(this, txn));
}

Result<std::unique_ptr<Txn>> LmdbStore::BeginRead() const {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "cannot begin read transaction");
  return std::unique_ptr<Txn>(new Txn(this, txn));
}

StoreStats LmdbStore::Stats() const {
  StoreStats stats;
  MDB_envinfo info;
  MDB_stat stat;
  if (mdb_env_info(env_, &info) == MDB_SUCCESS && mdb_env_stat(env_, &stat) == MDB_SUCCESS) {
    stats.map_size = info.me_mapsize;
    stats.used_bytes = (info.me_last_pgno + 1) * static_cast<uint64_t>(stat.ms_psize);
  }
  std::error_code ec;
  auto size = std::filesystem::file_size(dir_ / "data.mdb", ec);
  if (!ec) stats.file_bytes = size;
  return stats;
}

Txn::~Txn() {
  if (txn_ != nullptr) mdb_txn_abort(txn_);
}

Result<std::string_view> Txn::Get(Table table, std::string_view key) const {
  MDB_val k = ToVal(key);
  MDB_val v;
  if (store_->dbis_[static_cast<int>(table)] == kMissingTable) return Status::NotFound("key not found");
  int rc = mdb_get(txn_, store_->dbis_[static_cast<int>(table)], &k, &v);
  if (rc == MDB_NOTFOUND) return Status::NotFound("key not found");
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "read");
  return FromVal(v);
}

Status Txn::Put(Table table, std::string_view key, std::string_view value) {
  MDB_val k = ToVal(key);
  MDB_val v = ToVal(value);
  return LmdbStatus(mdb_put(txn_, store_->dbis_[static_cast<int>(table)], &k, &v, 0), "write");
}

Status Txn::Delete(Table table, std::string_view key) {
  MDB_val k = ToVal(key);
  int rc = mdb_del(txn_, store_->dbis_[static_cast<int>(table)], &k, nullptr);
  if (rc == MDB_NOTFOUND) return Status::OK();
  return LmdbStatus(rc, "delete");
}

Status Txn::Scan(Table table, std::string_view from,
                 const std::function<bool(std::string_view, std::string_view)>& fn) const {
  MDB_cursor* cursor = nullptr;
  if (store_->dbis_[static_cast<int>(table)] == kMissingTable) return Status::OK();
  int rc = mdb_cursor_open(txn_, store_->dbis_[static_cast<int>(table)], &cursor);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "cursor");
  MDB_val k = ToVal(from);
  MDB_val v;
  rc = from.empty() ? mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
                    : mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
  // A scan past a few pages' worth of entries is a bulk read (a rebuild, a
  // large scroll): readahead back on while it runs.
  constexpr size_t kBulkEntries = 256;
  size_t visited = 0;
  while (rc == MDB_SUCCESS) {
    if (!fn(FromVal(k), FromVal(v))) break;
    if (++visited == kBulkEntries) store_->BulkRead(true);
    rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
  }
  if (visited >= kBulkEntries) store_->BulkRead(false);
  mdb_cursor_close(cursor);
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return LmdbStatus(rc, "scan");
  return Status::OK();
}

Result<uint64_t> Txn::Count(Table table) const {
  MDB_stat stat;
  if (store_->dbis_[static_cast<int>(table)] == kMissingTable) return uint64_t{0};
  int rc = mdb_stat(txn_, store_->dbis_[static_cast<int>(table)], &stat);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "stat");
  return static_cast<uint64_t>(stat.ms_entries);
}

Status Txn::Commit() {
  int rc = mdb_txn_commit(txn_);
  txn_ = nullptr;  // committed or aborted by LMDB either way
  return LmdbStatus(rc, "commit");
}

}  // namespace quarry::storage
