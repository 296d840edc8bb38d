#include "cache/memory_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace quarry::cache {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr Kind kQuery = Kind::kQueryEmbedding;
constexpr Kind kChunk = Kind::kChunkEmbedding;
constexpr Kind kResult = Kind::kSearchResult;

// A clock the test moves by hand.
struct FakeClock {
  std::atomic<int64_t> ms{0};
  std::function<std::chrono::steady_clock::time_point()> Fn() {
    return [this] { return std::chrono::steady_clock::time_point(milliseconds(ms.load())); };
  }
};

MemoryCacheOptions OneShard(size_t budget) {
  MemoryCacheOptions options;
  options.budget_bytes = budget;
  options.shards = 1;
  return options;
}

TEST(MemoryCacheTest, PutGetReplace) {
  MemoryCache cache(OneShard(1 << 20));
  EXPECT_FALSE(cache.Get(kQuery, "a").has_value());
  cache.Put(kQuery, "a", "one");
  EXPECT_EQ(cache.Get(kQuery, "a"), "one");
  cache.Put(kQuery, "a", "a longer value");
  EXPECT_EQ(cache.Get(kQuery, "a"), "a longer value");
  MemoryCacheStats stats = cache.Stats();
  EXPECT_EQ(stats.items, 1u);
  EXPECT_EQ(stats.bytes, MemoryCache::Charge("a", "a longer value"));
  cache.Erase(kQuery, "a");
  EXPECT_FALSE(cache.Get(kQuery, "a").has_value());
  EXPECT_EQ(cache.Stats().bytes, 0u);
  // Binary keys and values, including NUL bytes.
  const std::string key("k\0ey", 4), value("v\0\xff", 3);
  cache.Put(kQuery, key, value);
  EXPECT_EQ(cache.Get(kQuery, key), value);
  EXPECT_FALSE(cache.Get(kQuery, "k").has_value());
}

TEST(MemoryCacheTest, KindsDoNotCollide) {
  MemoryCache cache(MemoryCacheOptions{});
  cache.Put(kQuery, "same", "q");
  cache.Put(kChunk, "same", "c");
  EXPECT_EQ(cache.Get(kQuery, "same"), "q");
  EXPECT_EQ(cache.Get(kChunk, "same"), "c");
  EXPECT_FALSE(cache.Get(kResult, "same").has_value());
  cache.Erase(kChunk, "same");
  EXPECT_EQ(cache.Get(kQuery, "same"), "q");
  EXPECT_EQ(cache.Stats().items, 1u);
}

TEST(MemoryCacheTest, EvictsLeastRecentlyUsed) {
  const std::string value(100, 'v');
  const size_t charge = MemoryCache::Charge("k0", value);
  MemoryCache cache(OneShard(3 * charge));  // room for exactly three
  cache.Put(kQuery, "k0", value);
  cache.Put(kQuery, "k1", value);
  cache.Put(kQuery, "k2", value);
  EXPECT_EQ(cache.Stats().evictions, 0u);
  ASSERT_TRUE(cache.Get(kQuery, "k0").has_value());  // k1 is now the oldest
  cache.Put(kQuery, "k3", value);
  EXPECT_EQ(cache.Stats().evictions, 1u);
  EXPECT_FALSE(cache.Get(kQuery, "k1").has_value());
  EXPECT_TRUE(cache.Get(kQuery, "k0").has_value());
  EXPECT_TRUE(cache.Get(kQuery, "k2").has_value());
  EXPECT_TRUE(cache.Get(kQuery, "k3").has_value());
  // Order now (newest first): k3 k2 k0. An entry between one and two slots
  // evicts the two oldest.
  cache.Put(kQuery, "k4", std::string(300, 'w'));
  EXPECT_EQ(cache.Stats().evictions, 3u);
  EXPECT_FALSE(cache.Get(kQuery, "k0").has_value());
  EXPECT_FALSE(cache.Get(kQuery, "k2").has_value());
  EXPECT_TRUE(cache.Get(kQuery, "k4").has_value());
  EXPECT_LE(cache.Stats().bytes, 3 * charge);
}

TEST(MemoryCacheTest, ByteBudgetNeverExceeded) {
  MemoryCacheOptions options;
  options.budget_bytes = 64 << 10;
  options.shards = 4;
  MemoryCache cache(options);
  EXPECT_EQ(cache.Stats().budget, 64u << 10);
  std::mt19937 rng(7);
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "key" + std::to_string(rng() % 3000);
    cache.Put(static_cast<Kind>(rng() % kKindCount), key, std::string(rng() % 2000, 'x'));
    const MemoryCacheStats stats = cache.Stats();
    ASSERT_LE(stats.bytes, stats.budget) << i;
  }
  const MemoryCacheStats stats = cache.Stats();
  EXPECT_GT(stats.evictions, 0u);
  EXPECT_GT(stats.items, 0u);
}

TEST(MemoryCacheTest, OversizedValueIsNotStoredAndDropsOldOne) {
  MemoryCacheOptions options;
  options.budget_bytes = 4000;
  options.shards = 4;  // 1000 bytes each
  MemoryCache cache(options);
  EXPECT_EQ(cache.shard_budget(), 1000u);
  cache.Put(kQuery, "big", "small");
  ASSERT_TRUE(cache.Get(kQuery, "big").has_value());
  cache.Put(kQuery, "big", std::string(2000, 'x'));
  EXPECT_FALSE(cache.Get(kQuery, "big").has_value());
  EXPECT_EQ(cache.Stats().bytes, 0u);
}

TEST(MemoryCacheTest, TtlPerKindWithInjectedClock) {
  FakeClock clock;
  MemoryCacheOptions options = OneShard(1 << 20);
  options.ttl[static_cast<size_t>(kQuery)] = seconds(10);
  options.ttl[static_cast<size_t>(kResult)] = milliseconds(500);
  options.clock = clock.Fn();
  MemoryCache cache(options);
  cache.Put(kQuery, "q", "1");
  cache.Put(kChunk, "c", "2");  // no TTL
  cache.Put(kResult, "r", "3");
  clock.ms = 499;
  EXPECT_TRUE(cache.Get(kResult, "r").has_value());
  clock.ms = 500;
  EXPECT_FALSE(cache.Get(kResult, "r").has_value());
  EXPECT_EQ(cache.Stats().expirations, 1u);
  clock.ms = 9999;
  EXPECT_TRUE(cache.Get(kQuery, "q").has_value());  // a hit does not extend the TTL
  clock.ms = 10000;
  EXPECT_FALSE(cache.Get(kQuery, "q").has_value());
  clock.ms = 1000LL * 3600 * 24 * 365;
  EXPECT_TRUE(cache.Get(kChunk, "c").has_value());
  MemoryCacheStats stats = cache.Stats();
  EXPECT_EQ(stats.expirations, 2u);
  EXPECT_EQ(stats.evictions, 0u);
  EXPECT_EQ(stats.items, 1u);  // expired entries were removed
  EXPECT_EQ(stats.bytes, MemoryCache::Charge("c", "2"));
  // A Put restarts the expiry.
  cache.Put(kResult, "r", "4");
  clock.ms += 400;
  EXPECT_EQ(cache.Get(kResult, "r"), "4");
}

TEST(MemoryCacheTest, ClearDropsEverything) {
  MemoryCache cache(MemoryCacheOptions{});
  for (int i = 0; i < 100; ++i) cache.Put(kChunk, std::to_string(i), "v");
  EXPECT_EQ(cache.Stats().items, 100u);
  cache.Clear();
  EXPECT_EQ(cache.Stats().items, 0u);
  EXPECT_EQ(cache.Stats().bytes, 0u);
  EXPECT_FALSE(cache.Get(kChunk, "5").has_value());
}

TEST(MemoryCacheTest, ConcurrentGetPutFromEightThreads) {
  MemoryCacheOptions options;
  options.budget_bytes = 256 << 10;
  options.shards = 8;
  options.ttl[static_cast<size_t>(kResult)] = milliseconds(5);  // some expire meanwhile
  MemoryCache cache(options);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 20000; ++i) {
        const Kind kind = static_cast<Kind>(rng() % kKindCount);
        const std::string key = "k" + std::to_string(rng() % 2000);
        // The value is a function of kind and key, so any hit can be checked.
        const std::string value = std::string(KindName(kind)) + key +
                                  std::string(std::hash<std::string>()(key) % 700, '.');
        switch (rng() % 4) {
          case 0: cache.Put(kind, key, value); break;
          case 1: cache.Erase(kind, key); break;
          default: {
            auto got = cache.Get(kind, key);
            if (got.has_value() && *got != value) ++wrong;
          }
        }
        if (i % 5000 == 0 && t == 0) {
          MemoryCacheStats stats = cache.Stats();
          if (stats.bytes > stats.budget) ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  const MemoryCacheStats stats = cache.Stats();
  EXPECT_LE(stats.bytes, stats.budget);
  EXPECT_GT(stats.evictions, 0u);
}

}  // namespace
}  // namespace quarry::cache
