// The layered cache: an in-process sharded LRU (TTL, byte budget) in front of
// an optional Redis shared by many Quarry processes.
//
//   Get: memory, then Redis; a Redis hit fills memory.
//   Put: memory and Redis (Redis best effort: never an error to the caller).
//
// Values are opaque bytes to the cache; callers store compact binary records
// (see codec.h: vectors as raw little-endian floats behind a versioned header).
// Keys are built by callers from everything the value depends on, so a key is
// never reused for a different value (a collection's version is part of a
// search-result key: a write makes older entries unreachable, never stale).
//
// Redis faults (down at start, killed, hung, answering garbage) never reach
// callers: the memory layer keeps serving, errors are counted, the state
// change is logged once, and reconnects back off exponentially. A Redis call
// never adds more than `redis_timeout` to a request: while Redis is down or
// backing off it is skipped at no cost.
//
// Thread-safety: every method may be called from many threads at once.
#ifndef QUARRY_CACHE_CACHE_H_
#define QUARRY_CACHE_CACHE_H_

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "quarry/status.h"

namespace quarry::cache {

// What is cached; each kind has its own TTL, switch and statistics.
enum class Kind : uint8_t { kQueryEmbedding = 0, kChunkEmbedding = 1, kSearchResult = 2 };
inline constexpr size_t kKindCount = 3;
const char* KindName(Kind kind);  // "query_embedding", "chunk_embedding", "search_result"

struct KindOptions {
  bool enabled = true;
  std::chrono::seconds ttl{0};  // 0: no expiry (LRU and the byte budget still apply)
};

struct CacheOptions {
  size_t memory_bytes = 256ull << 20;  // budget of the memory layer, keys + values + overhead
  size_t shards = 16;                  // memory layer shards (lock striping)
  std::array<KindOptions, kKindCount> kinds{};
  // Redis layer: empty = none. redis://[:password@]host[:port][/db]
  std::string redis_url;
  std::string key_prefix = "quarry:";  // every Redis key starts with it
  std::chrono::milliseconds redis_timeout{50};       // connect and per command
  std::chrono::milliseconds reconnect_min{100};      // backoff after a failure,
  std::chrono::milliseconds reconnect_max{10000};    // doubling up to this
  size_t redis_connections = 4;        // pool; a caller finding none free skips Redis
};

struct KindStats {
  uint64_t memory_hits = 0, memory_misses = 0;
  uint64_t redis_hits = 0, redis_misses = 0;  // asked Redis after a memory miss
  uint64_t puts = 0;
};

struct CacheStats {
  std::array<KindStats, kKindCount> kinds{};
  uint64_t memory_bytes = 0;    // in use now
  uint64_t memory_budget = 0;
  uint64_t memory_items = 0;
  uint64_t evictions = 0;       // by the byte budget (not TTL expiry)
  uint64_t expirations = 0;     // found expired on lookup
  bool redis_configured = false;
  bool redis_up = false;        // last command succeeded
  uint64_t redis_errors = 0;    // failed commands and connects (timeouts, garbage, refused)
  uint64_t redis_skipped = 0;   // calls not made: down/backing off, or no free connection
  uint64_t redis_reconnects = 0;
  std::string redis_last_error;  // the latest failure's message ("" if none)
  // Hits over lookups, both layers together (a Redis hit counts once).
  double HitRate(Kind kind) const;
};

class LayeredCache {
 public:
  // Only a malformed configuration (bad URL, zero budget) is an error; a Redis
  // that cannot be reached at start is not (the cache runs on memory and
  // keeps trying in the background of later calls).
  static Result<std::unique_ptr<LayeredCache>> Open(const CacheOptions& options);
  virtual ~LayeredCache() = default;

  virtual bool enabled(Kind kind) const = 0;
  virtual std::optional<std::string> Get(Kind kind, std::string_view key) = 0;
  virtual void Put(Kind kind, std::string_view key, std::string_view value) = 0;
  // Many keys at once (one Redis round trip for the memory misses: MGET).
  // `out` gets one entry per key, in order.
  virtual void GetMany(Kind kind, std::span<const std::string> keys,
                       std::vector<std::optional<std::string>>* out) = 0;
  // Many entries at once (one pipelined round trip to Redis).
  virtual void PutMany(Kind kind, std::span<const std::string> keys,
                       std::span<const std::string> values) = 0;
  // Drops the memory layer (Redis is shared and left alone). For tests/benches.
  virtual void ClearMemory() = 0;
  virtual CacheStats Stats() const = 0;
};

// redis://[:password@]host[:port][/db] (also redis://user:password@...).
struct RedisUrl {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;
  std::string password;
  int db = 0;
};
Result<RedisUrl> ParseRedisUrl(std::string_view url);

}  // namespace quarry::cache

#endif  // QUARRY_CACHE_CACHE_H_
