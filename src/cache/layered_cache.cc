// LayeredCache::Open and its implementation: MemoryCache in front of an
// optional RedisClient.
#include <atomic>
#include <utility>

#include "cache/cache.h"
#include "cache/memory_cache.h"
#include "cache/redis_client.h"

namespace quarry::cache {

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kQueryEmbedding: return "query_embedding";
    case Kind::kChunkEmbedding: return "chunk_embedding";
    case Kind::kSearchResult: return "search_result";
  }
  return "unknown";
}

double CacheStats::HitRate(Kind kind) const {
  const KindStats& k = kinds[static_cast<size_t>(kind) % kKindCount];
  const uint64_t lookups = k.memory_hits + k.memory_misses;
  if (lookups == 0) return 0;
  return static_cast<double>(k.memory_hits + k.redis_hits) / static_cast<double>(lookups);
}

namespace {

struct KindCounters {
  std::atomic<uint64_t> memory_hits{0}, memory_misses{0};
  std::atomic<uint64_t> redis_hits{0}, redis_misses{0};
  std::atomic<uint64_t> puts{0};
};

void Bump(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

class LayeredCacheImpl final : public LayeredCache {
 public:
  LayeredCacheImpl(const CacheOptions& options, MemoryCacheOptions memory,
                   std::unique_ptr<RedisClient> redis)
      : options_(options), memory_(std::move(memory)), redis_(std::move(redis)) {}

  bool enabled(Kind kind) const override { return Options(kind).enabled; }

  std::optional<std::string> Get(Kind kind, std::string_view key) override {
    if (!enabled(kind)) return std::nullopt;
    KindCounters& counters = Counters(kind);
    std::optional<std::string> value = memory_.Get(kind, key);
    if (value.has_value()) {
      Bump(counters.memory_hits);
      return value;
    }
    Bump(counters.memory_misses);
    if (redis_ == nullptr) return std::nullopt;
    Status st = redis_->Get(RedisKey(kind, key), &value);
    if (RedisClient::IsSkipped(st)) return std::nullopt;
    if (!st.ok() || !value.has_value()) {
      Bump(counters.redis_misses);
      return std::nullopt;
    }
    Bump(counters.redis_hits);
    memory_.Put(kind, key, *value);
    return value;
  }

  void Put(Kind kind, std::string_view key, std::string_view value) override {
    if (!enabled(kind)) return;
    Bump(Counters(kind).puts);
    memory_.Put(kind, key, value);
    if (redis_ != nullptr) redis_->Set(RedisKey(kind, key), value, RedisTtl(kind));
  }

  void GetMany(Kind kind, std::span<const std::string> keys,
               std::vector<std::optional<std::string>>* out) override {
    out->assign(keys.size(), std::nullopt);
    if (!enabled(kind) || keys.empty()) return;
    KindCounters& counters = Counters(kind);
    std::vector<size_t> missing;
    for (size_t i = 0; i < keys.size(); ++i) {
      (*out)[i] = memory_.Get(kind, keys[i]);
      if (!(*out)[i].has_value()) missing.push_back(i);
    }
    Bump(counters.memory_hits, keys.size() - missing.size());
    Bump(counters.memory_misses, missing.size());
    if (redis_ == nullptr || missing.empty()) return;
    std::vector<std::string> redis_keys;
    redis_keys.reserve(missing.size());
    for (size_t i : missing) redis_keys.push_back(RedisKey(kind, keys[i]));
    std::vector<std::optional<std::string>> values;
    Status st = redis_->MGet(redis_keys, &values);
    if (RedisClient::IsSkipped(st)) return;
    uint64_t hits = 0;
    for (size_t j = 0; j < missing.size() && st.ok(); ++j) {
      if (!values[j].has_value()) continue;
      ++hits;
      memory_.Put(kind, keys[missing[j]], *values[j]);
      (*out)[missing[j]] = std::move(values[j]);
    }
    Bump(counters.redis_hits, hits);
    Bump(counters.redis_misses, missing.size() - hits);
  }

  void PutMany(Kind kind, std::span<const std::string> keys,
               std::span<const std::string> values) override {
    if (!enabled(kind)) return;
    const size_t n = std::min(keys.size(), values.size());
    if (n == 0) return;
    Bump(Counters(kind).puts, n);
    for (size_t i = 0; i < n; ++i) memory_.Put(kind, keys[i], values[i]);
    if (redis_ == nullptr) return;
    std::vector<std::string> redis_keys;
    redis_keys.reserve(n);
    for (size_t i = 0; i < n; ++i) redis_keys.push_back(RedisKey(kind, keys[i]));
    redis_->SetMany(redis_keys, values.first(n), RedisTtl(kind));
  }

  void ClearMemory() override { memory_.Clear(); }

  CacheStats Stats() const override {
    CacheStats stats;
    for (size_t k = 0; k < kKindCount; ++k) {
      const KindCounters& c = counters_[k];
      KindStats& s = stats.kinds[k];
      s.memory_hits = c.memory_hits.load(std::memory_order_relaxed);
      s.memory_misses = c.memory_misses.load(std::memory_order_relaxed);
      s.redis_hits = c.redis_hits.load(std::memory_order_relaxed);
      s.redis_misses = c.redis_misses.load(std::memory_order_relaxed);
      s.puts = c.puts.load(std::memory_order_relaxed);
    }
    const MemoryCacheStats memory = memory_.Stats();
    stats.memory_bytes = memory.bytes;
    stats.memory_budget = memory.budget;
    stats.memory_items = memory.items;
    stats.evictions = memory.evictions;
    stats.expirations = memory.expirations;
    stats.redis_configured = redis_ != nullptr;
    if (redis_ != nullptr) {
      RedisClientStats redis = redis_->stats();
      stats.redis_up = redis.up;
      stats.redis_errors = redis.errors;
      stats.redis_skipped = redis.skipped;
      stats.redis_reconnects = redis.reconnects;
      stats.redis_last_error = std::move(redis.last_error);
    }
    return stats;
  }

 private:
  const KindOptions& Options(Kind kind) const {
    return options_.kinds[static_cast<size_t>(kind) % kKindCount];
  }
  KindCounters& Counters(Kind kind) { return counters_[static_cast<size_t>(kind) % kKindCount]; }
  std::chrono::milliseconds RedisTtl(Kind kind) const { return Options(kind).ttl; }
  std::string RedisKey(Kind kind, std::string_view key) const {
    std::string out = options_.key_prefix;
    out += KindName(kind);
    out += ':';
    out += key;
    return out;
  }

  const CacheOptions options_;
  MemoryCache memory_;
  std::unique_ptr<RedisClient> redis_;
  std::array<KindCounters, kKindCount> counters_;
};

}  // namespace

Result<std::unique_ptr<LayeredCache>> LayeredCache::Open(const CacheOptions& options) {
  if (options.memory_bytes == 0) {
    return Status::InvalidArgument("cache: the memory budget must be above zero");
  }
  MemoryCacheOptions memory;
  memory.budget_bytes = options.memory_bytes;
  memory.shards = options.shards;
  for (size_t k = 0; k < kKindCount; ++k) memory.ttl[k] = options.kinds[k].ttl;

  std::unique_ptr<RedisClient> redis;
  if (!options.redis_url.empty()) {
    QUARRY_ASSIGN_OR_RETURN(RedisUrl url, ParseRedisUrl(options.redis_url));
    if (options.redis_timeout.count() <= 0) {
      return Status::InvalidArgument("cache: the redis timeout must be above zero");
    }
    RedisClientOptions redis_options;
    redis_options.url = std::move(url);
    redis_options.timeout = options.redis_timeout;
    redis_options.reconnect_min = std::max(options.reconnect_min, std::chrono::milliseconds(1));
    redis_options.reconnect_max = std::max(options.reconnect_max, redis_options.reconnect_min);
    redis_options.connections = options.redis_connections;
    redis = std::make_unique<RedisClient>(std::move(redis_options));
    // One connection now, so that a misconfigured Redis is reported at start;
    // a failure only starts the backoff.
    redis->Connect();
  }
  return std::unique_ptr<LayeredCache>(
      std::make_unique<LayeredCacheImpl>(options, std::move(memory), std::move(redis)));
}

}  // namespace quarry::cache
