#include "cache/memory_cache.h"

#include <algorithm>

#include "common/hash.h"

namespace quarry::cache {

MemoryCache::MemoryCache(MemoryCacheOptions options) : options_(std::move(options)) {
  const size_t shards = std::max<size_t>(1, options_.shards);
  shard_budget_ = options_.budget_bytes / shards;
  shards_.reserve(shards);
  for (size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

std::string MemoryCache::InternalKey(Kind kind, std::string_view key) {
  std::string out;
  out.reserve(1 + key.size());
  out.push_back(static_cast<char>(kind));
  out.append(key);
  return out;
}

MemoryCache::Shard& MemoryCache::ShardFor(std::string_view internal_key) {
  return *shards_[Hash64(internal_key) % shards_.size()];
}

MemoryCache::TimePoint MemoryCache::Now() const {
  return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
}

void MemoryCache::Remove(Shard& shard, std::list<Entry>::iterator it) {
  shard.bytes -= it->charge;
  shard.index.erase(std::string_view(it->key));
  shard.lru.erase(it);
}

std::optional<std::string> MemoryCache::Get(Kind kind, std::string_view key) {
  const std::string ikey = InternalKey(kind, key);
  Shard& shard = ShardFor(ikey);
  const TimePoint now = Now();
  std::lock_guard<std::mutex> lock(shard.mu);
  auto found = shard.index.find(std::string_view(ikey));
  if (found == shard.index.end()) return std::nullopt;
  auto it = found->second;
  if (it->expires <= now) {
    Remove(shard, it);
    ++shard.expirations;
    return std::nullopt;
  }
  shard.lru.splice(shard.lru.begin(), shard.lru, it);
  return it->value;
}

void MemoryCache::Put(Kind kind, std::string_view key, std::string_view value) {
  std::string ikey = InternalKey(kind, key);
  Shard& shard = ShardFor(ikey);
  const size_t charge = Charge(key, value);
  if (charge > shard_budget_) {
    // Never stored; an older value must not outlive this Put.
    std::lock_guard<std::mutex> lock(shard.mu);
    auto found = shard.index.find(std::string_view(ikey));
    if (found != shard.index.end()) Remove(shard, found->second);
    return;
  }
  const auto ttl = options_.ttl[static_cast<size_t>(kind) % kKindCount];
  const TimePoint expires = ttl.count() > 0 ? Now() + ttl : TimePoint::max();
  // Build the node outside the lock (the copies are the expensive part).
  std::list<Entry> node;
  node.push_back(Entry{std::move(ikey), std::string(value), expires, charge});
  std::list<Entry> dropped;  // freed after the lock is released
  std::lock_guard<std::mutex> lock(shard.mu);
  auto found = shard.index.find(std::string_view(node.front().key));
  if (found != shard.index.end()) {
    shard.bytes -= found->second->charge;
    dropped.splice(dropped.end(), shard.lru, found->second);
    shard.index.erase(found);
  }
  while (!shard.lru.empty() && shard.bytes + charge > shard_budget_) {
    auto victim = std::prev(shard.lru.end());
    shard.bytes -= victim->charge;
    shard.index.erase(std::string_view(victim->key));
    dropped.splice(dropped.end(), shard.lru, victim);
    ++shard.evictions;
  }
  shard.lru.splice(shard.lru.begin(), node);
  shard.index.emplace(std::string_view(shard.lru.front().key), shard.lru.begin());
  shard.bytes += charge;
}

void MemoryCache::Erase(Kind kind, std::string_view key) {
  const std::string ikey = InternalKey(kind, key);
  Shard& shard = ShardFor(ikey);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto found = shard.index.find(std::string_view(ikey));
  if (found != shard.index.end()) Remove(shard, found->second);
}

void MemoryCache::Clear() {
  for (auto& shard : shards_) {
    std::list<Entry> drop;
    {
      std::lock_guard<std::mutex> lock(shard->mu);
      shard->index.clear();
      drop.swap(shard->lru);
      shard->bytes = 0;
    }
  }
}

MemoryCacheStats MemoryCache::Stats() const {
  MemoryCacheStats stats;
  stats.budget = shard_budget_ * shards_.size();
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mu);
    stats.bytes += shard->bytes;
    stats.items += shard->lru.size();
    stats.evictions += shard->evictions;
    stats.expirations += shard->expirations;
  }
  return stats;
}

}  // namespace quarry::cache
