// The cache flags shared by `quarry ingest|search|eval|serve`:
//   --cache-mb N            memory layer budget (MiB; 0 with no --redis: no cache)
//   --redis URL             redis://[:password@]host[:port][/db]; default $QUARRY_REDIS_URL
//   --cache-prefix P        Redis key prefix (default "quarry:")
//   --cache-ttl KIND=SECS   per kind: query, chunk, results (0: no expiry)
//   --no-cache KIND         turn a kind off (query, chunk, results, or all)
//   --redis-timeout-ms N    connect and per-command timeout
//
// Defaults: 256 MiB; TTL query embeddings 7 days, chunk embeddings 30 days,
// results 1 hour (results never go stale, the TTL only bounds Redis's size).
#ifndef QUARRY_CLI_CACHE_FLAGS_H_
#define QUARRY_CLI_CACHE_FLAGS_H_

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cache/cache.h"

namespace quarry::cli {

struct CacheFlags {
  size_t memory_mb = 256;
  std::string redis_url;
  std::string prefix = "quarry:";
  std::vector<std::string> ttls;
  std::vector<std::string> off;
  int redis_timeout_ms = 50;
};

void AddCacheFlags(CLI::App* cmd, CacheFlags* flags);

// The options the flags describe; InvalidArgument naming the bad flag.
Result<cache::CacheOptions> CacheOptionsFrom(const CacheFlags& flags);

// Opens the cache the flags describe; null when caching is off.
Result<std::unique_ptr<cache::LayeredCache>> OpenCache(const CacheFlags& flags);

// The shared (Redis) layer as `quarry info` shows it: endpoint, whether it
// answers, entries per kind under the prefix, its memory, and Redis's own
// keyspace hit/miss counters (all clients). {"configured": false} without a URL.
nlohmann::json RedisCacheSummary(const CacheFlags& flags);

}  // namespace quarry::cli

#endif  // QUARRY_CLI_CACHE_FLAGS_H_
