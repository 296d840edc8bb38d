// MemoryCache: the in-process layer of LayeredCache. A sharded LRU with a
// per-kind time to live and a byte budget.
//
// An entry costs its key, its value and kEntryOverhead bytes (list and hash
// nodes, string headers). The budget is split evenly over the shards; a shard
// evicts from its least recently used end until a new entry fits, and an entry
// larger than a shard's budget is not stored. Expired entries are removed when
// a lookup finds them (they count as misses) or when eviction reaches them.
// Keys of different kinds never collide: the kind is part of the stored key.
//
// Thread-safety: every method may be called from many threads at once; each
// shard has its own mutex.
#ifndef QUARRY_CACHE_MEMORY_CACHE_H_
#define QUARRY_CACHE_MEMORY_CACHE_H_

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/cache.h"

namespace quarry::cache {

struct MemoryCacheOptions {
  size_t budget_bytes = 256ull << 20;
  size_t shards = 16;  // 0 is taken as 1
  std::array<std::chrono::milliseconds, kKindCount> ttl{};  // 0: no expiry
  // Time source for expiry; steady_clock::now when empty (tests inject one).
  std::function<std::chrono::steady_clock::time_point()> clock;
};

struct MemoryCacheStats {
  uint64_t bytes = 0;  // charged, as counted against the budget
  uint64_t budget = 0;
  uint64_t items = 0;
  uint64_t evictions = 0;    // removed to make room
  uint64_t expirations = 0;  // found expired on lookup
};

class MemoryCache {
 public:
  // Estimated bytes of bookkeeping per entry, on top of key and value.
  static constexpr size_t kEntryOverhead = 128;

  explicit MemoryCache(MemoryCacheOptions options);
  MemoryCache(const MemoryCache&) = delete;
  MemoryCache& operator=(const MemoryCache&) = delete;

  // A hit refreshes the entry's LRU position (not its expiry).
  std::optional<std::string> Get(Kind kind, std::string_view key);
  // Inserts or replaces; the expiry restarts from now.
  void Put(Kind kind, std::string_view key, std::string_view value);
  void Erase(Kind kind, std::string_view key);
  void Clear();
  MemoryCacheStats Stats() const;

  // What one entry is charged.
  static size_t Charge(std::string_view key, std::string_view value) {
    return 1 + key.size() + value.size() + kEntryOverhead;
  }
  size_t shard_budget() const { return shard_budget_; }

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Entry {
    std::string key;  // kind byte + caller key
    std::string value;
    TimePoint expires;  // TimePoint::max(): never
    size_t charge;
  };
  struct Shard {
    mutable std::mutex mu;
    std::list<Entry> lru;  // front: most recently used
    // Keys view Entry::key inside list nodes, which never move.
    std::unordered_map<std::string_view, std::list<Entry>::iterator> index;
    size_t bytes = 0;
    uint64_t evictions = 0;
    uint64_t expirations = 0;
  };

  static std::string InternalKey(Kind kind, std::string_view key);
  Shard& ShardFor(std::string_view internal_key);
  TimePoint Now() const;
  // REQUIRES: shard.mu held.
  static void Remove(Shard& shard, std::list<Entry>::iterator it);

  MemoryCacheOptions options_;
  size_t shard_budget_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace quarry::cache

#endif  // QUARRY_CACHE_MEMORY_CACHE_H_
