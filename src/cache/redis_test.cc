// LayeredCache over memory only, over a real redis-server child process, and
// over fake servers that misbehave.
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "cache/cache.h"
#include "cache/codec.h"
#include "cache/redis_client.h"
#include "cache/test_redis_server.h"

namespace quarry::cache {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeRedisServer;
using testing::RedisServerProcess;

constexpr Kind kQuery = Kind::kQueryEmbedding;
constexpr Kind kChunk = Kind::kChunkEmbedding;
constexpr Kind kResult = Kind::kSearchResult;

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::unique_ptr<LayeredCache> MustOpen(const CacheOptions& options) {
  auto cache = LayeredCache::Open(options);
  EXPECT_TRUE(cache.ok()) << cache.status().ToString();
  return cache.ok() ? std::move(cache).value() : nullptr;
}

// A direct client to look at what the cache left in Redis.
std::unique_ptr<RedisClient> Inspector(int port, const std::string& user = "",
                                       const std::string& password = "", int db = 0) {
  RedisClientOptions options;
  options.url.host = "127.0.0.1";
  options.url.port = port;
  options.url.user = user;
  options.url.password = password;
  options.url.db = db;
  options.timeout = seconds(2);
  options.reconnect_min = milliseconds(1);
  options.connections = 1;
  return std::make_unique<RedisClient>(options);
}

RedisReply MustCommand(RedisClient& client, std::vector<std::string> argv) {
  auto reply = client.Command(argv);
  EXPECT_TRUE(reply.ok()) << reply.status().ToString();
  return reply.ok() ? *reply : RedisReply{};
}

// Calls `step` until `done` holds or `limit` passes; true when done.
template <typename Step, typename Done>
bool Eventually(Step step, Done done, milliseconds limit = milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    step();
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

// ---------------------------------------------------------------- memory only

TEST(LayeredCacheTest, RejectsBadConfiguration) {
  CacheOptions options;
  options.memory_bytes = 0;
  EXPECT_EQ(LayeredCache::Open(options).status().code(), StatusCode::kInvalidArgument);
  options.memory_bytes = 1 << 20;
  options.redis_url = "http://localhost";
  EXPECT_FALSE(LayeredCache::Open(options).ok());
  options.redis_url = "redis://localhost:99999";
  EXPECT_FALSE(LayeredCache::Open(options).ok());
}

TEST(LayeredCacheTest, MemoryOnlyGetPutAndStats) {
  CacheOptions options;
  options.memory_bytes = 1 << 20;
  auto cache = MustOpen(options);
  ASSERT_NE(cache, nullptr);
  EXPECT_FALSE(cache->Get(kQuery, "q").has_value());
  cache->Put(kQuery, "q", "vec");
  EXPECT_EQ(cache->Get(kQuery, "q"), "vec");
  EXPECT_EQ(cache->Get(kQuery, "q"), "vec");
  EXPECT_FALSE(cache->Get(kChunk, "q").has_value());  // kinds are separate
  const CacheStats stats = cache->Stats();
  EXPECT_EQ(stats.kinds[0].memory_hits, 2u);
  EXPECT_EQ(stats.kinds[0].memory_misses, 1u);
  EXPECT_EQ(stats.kinds[0].puts, 1u);
  EXPECT_EQ(stats.kinds[0].redis_hits + stats.kinds[0].redis_misses, 0u);
  EXPECT_EQ(stats.kinds[1].memory_misses, 1u);
  EXPECT_DOUBLE_EQ(stats.HitRate(kQuery), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(stats.HitRate(kChunk), 0.0);
  EXPECT_DOUBLE_EQ(stats.HitRate(kResult), 0.0);
  EXPECT_EQ(stats.memory_items, 1u);
  EXPECT_GT(stats.memory_bytes, 0u);
  EXPECT_EQ(stats.memory_budget, 1u << 20);
  EXPECT_FALSE(stats.redis_configured);
  EXPECT_FALSE(stats.redis_up);
  cache->ClearMemory();
  EXPECT_FALSE(cache->Get(kQuery, "q").has_value());
  EXPECT_EQ(cache->Stats().memory_items, 0u);
}

TEST(LayeredCacheTest, DisabledKindIsInert) {
  CacheOptions options;
  options.kinds[static_cast<size_t>(kResult)].enabled = false;
  auto cache = MustOpen(options);
  ASSERT_NE(cache, nullptr);
  EXPECT_FALSE(cache->enabled(kResult));
  EXPECT_TRUE(cache->enabled(kQuery));
  cache->Put(kResult, "k", "v");
  EXPECT_FALSE(cache->Get(kResult, "k").has_value());
  const std::vector<std::string> keys = {"a", "b"};
  cache->PutMany(kResult, keys, keys);
  std::vector<std::optional<std::string>> out;
  cache->GetMany(kResult, keys, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].has_value() || out[1].has_value());
  const CacheStats stats = cache->Stats();
  const KindStats& k = stats.kinds[static_cast<size_t>(kResult)];
  EXPECT_EQ(k.memory_hits + k.memory_misses + k.puts, 0u);
  EXPECT_EQ(stats.memory_items, 0u);
}

TEST(LayeredCacheTest, GetManyPutManyInMemory) {
  auto cache = MustOpen(CacheOptions{});
  ASSERT_NE(cache, nullptr);
  const std::vector<std::string> keys = {"a", "b", "c"};
  const std::vector<std::string> values = {"1", "2", "3"};
  cache->PutMany(kChunk, std::span(keys).first(2), std::span(values).first(2));
  std::vector<std::optional<std::string>> out;
  cache->GetMany(kChunk, keys, &out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "1");
  EXPECT_EQ(out[1], "2");
  EXPECT_FALSE(out[2].has_value());
  const KindStats k = cache->Stats().kinds[static_cast<size_t>(kChunk)];
  EXPECT_EQ(k.memory_hits, 2u);
  EXPECT_EQ(k.memory_misses, 1u);
  EXPECT_EQ(k.puts, 2u);
}

TEST(LayeredCacheTest, CodecValuesThroughTheCache) {
  auto cache = MustOpen(CacheOptions{});
  ASSERT_NE(cache, nullptr);
  const std::vector<float> vec = {0.5f, -1.25f, 3.0f};
  cache->Put(kQuery, "model|query", EncodeFloats(vec));
  auto record = cache->Get(kQuery, "model|query");
  ASSERT_TRUE(record.has_value());
  std::vector<float> out;
  ASSERT_TRUE(DecodeFloats(*record, 3, &out));
  EXPECT_EQ(out, vec);
}

// ----------------------------------------------------------- real redis-server

class RedisCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RedisServerProcess::FindBinary().empty()) {
      GTEST_SKIP() << "redis-server is not installed (apt-get install redis-server); "
                      "skipping tests that need a real Redis";
    }
    std::string error;
    ASSERT_TRUE(server_.Start(0, ExtraArgs(), &error)) << error;
  }
  void TearDown() override { server_.Kill(); }

  virtual std::vector<std::string> ExtraArgs() const { return {}; }

  CacheOptions Options() const {
    CacheOptions options;
    options.memory_bytes = 4 << 20;
    options.shards = 4;
    options.redis_url = server_.url();
    options.key_prefix = "test:";
    options.redis_timeout = milliseconds(500);  // generous: ASan, a loaded machine
    options.reconnect_min = milliseconds(20);
    options.reconnect_max = milliseconds(200);
    return options;
  }

  RedisServerProcess server_;
};

TEST_F(RedisCacheTest, RedisHitFillsMemory) {
  auto cache = MustOpen(Options());
  ASSERT_NE(cache, nullptr);
  EXPECT_TRUE(cache->Stats().redis_up);  // Open connected
  cache->Put(kQuery, "q1", "value-1");
  auto inspector = Inspector(server_.port());
  EXPECT_EQ(MustCommand(*inspector, {"GET", "test:query_embedding:q1"}).str, "value-1");

  cache->ClearMemory();
  EXPECT_EQ(cache->Get(kQuery, "q1"), "value-1");  // from Redis
  EXPECT_EQ(cache->Get(kQuery, "q1"), "value-1");  // from memory now
  EXPECT_FALSE(cache->Get(kQuery, "absent").has_value());
  const CacheStats stats = cache->Stats();
  const KindStats& k = stats.kinds[0];
  EXPECT_EQ(k.memory_hits, 1u);
  EXPECT_EQ(k.memory_misses, 2u);
  EXPECT_EQ(k.redis_hits, 1u);
  EXPECT_EQ(k.redis_misses, 1u);
  EXPECT_DOUBLE_EQ(stats.HitRate(kQuery), 2.0 / 3.0);
  EXPECT_TRUE(stats.redis_configured);
  EXPECT_TRUE(stats.redis_up);
  EXPECT_EQ(stats.redis_errors, 0u);
  EXPECT_EQ(stats.redis_skipped, 0u);
}

TEST_F(RedisCacheTest, InstancesShareRedis) {
  auto a = MustOpen(Options());
  auto b = MustOpen(Options());
  ASSERT_TRUE(a && b);
  a->Put(kResult, "coll@v3|query", "page");
  EXPECT_EQ(b->Get(kResult, "coll@v3|query"), "page");
  b->Put(kChunk, "chunk-7", std::string("\0bin\xff", 5));
  EXPECT_EQ(a->Get(kChunk, "chunk-7"), std::string("\0bin\xff", 5));
  EXPECT_EQ(b->Stats().kinds[static_cast<size_t>(kResult)].redis_hits, 1u);
  // A different prefix is a different namespace.
  CacheOptions other = Options();
  other.key_prefix = "other:";
  auto c = MustOpen(other);
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->Get(kResult, "coll@v3|query").has_value());
}

TEST_F(RedisCacheTest, TtlReachesRedis) {
  CacheOptions options = Options();
  options.kinds[static_cast<size_t>(kQuery)].ttl = seconds(100);
  options.kinds[static_cast<size_t>(kResult)].ttl = seconds(1);
  auto cache = MustOpen(options);
  ASSERT_NE(cache, nullptr);
  cache->Put(kQuery, "q", "v");
  cache->Put(kChunk, "c", "v");
  const std::vector<std::string> keys = {"r1", "r2"};
  cache->PutMany(kResult, keys, keys);
  auto inspector = Inspector(server_.port());
  const long long ttl_q = MustCommand(*inspector, {"TTL", "test:query_embedding:q"}).integer;
  EXPECT_GT(ttl_q, 90);
  EXPECT_LE(ttl_q, 100);
  EXPECT_EQ(MustCommand(*inspector, {"TTL", "test:chunk_embedding:c"}).integer, -1);  // none
  const long long pttl_r = MustCommand(*inspector, {"PTTL", "test:search_result:r2"}).integer;
  EXPECT_GT(pttl_r, 0);
  EXPECT_LE(pttl_r, 1000);
  // Expiry happens in both layers.
  std::this_thread::sleep_for(milliseconds(1100));
  EXPECT_EQ(MustCommand(*inspector, {"EXISTS", "test:search_result:r1"}).integer, 0);
  EXPECT_FALSE(cache->Get(kResult, "r1").has_value());
  EXPECT_GE(cache->Stats().expirations, 1u);
}

TEST_F(RedisCacheTest, GetManyUsesOneMgetForMemoryMisses) {
  auto writer = MustOpen(Options());
  auto reader = MustOpen(Options());
  ASSERT_TRUE(writer && reader);
  std::vector<std::string> keys, values;
  for (int i = 0; i < 2500; ++i) {  // more than one pipeline group
    keys.push_back("chunk:" + std::to_string(i));
    values.push_back("vec" + std::to_string(i));
  }
  writer->PutMany(kChunk, keys, values);
  auto inspector = Inspector(server_.port());
  EXPECT_EQ(MustCommand(*inspector, {"DBSIZE"}).integer, 2500);
  EXPECT_EQ(MustCommand(*inspector, {"GET", "test:chunk_embedding:chunk:2499"}).str, "vec2499");

  reader->Put(kChunk, "chunk:0", "vec0");  // one memory hit
  std::vector<std::string> ask = {"chunk:0", "chunk:1", "nope", "chunk:2499"};
  std::vector<std::optional<std::string>> out;
  reader->GetMany(kChunk, ask, &out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], "vec0");
  EXPECT_EQ(out[1], "vec1");
  EXPECT_FALSE(out[2].has_value());
  EXPECT_EQ(out[3], "vec2499");
  KindStats k = reader->Stats().kinds[static_cast<size_t>(kChunk)];
  EXPECT_EQ(k.memory_hits, 1u);
  EXPECT_EQ(k.memory_misses, 3u);
  EXPECT_EQ(k.redis_hits, 2u);
  EXPECT_EQ(k.redis_misses, 1u);
  // The Redis hits went to memory.
  reader->GetMany(kChunk, ask, &out);
  k = reader->Stats().kinds[static_cast<size_t>(kChunk)];
  EXPECT_EQ(k.memory_hits, 4u);
  EXPECT_EQ(k.redis_hits + k.redis_misses, 4u);
}

TEST_F(RedisCacheTest, WrongReplyTypeIsMissAndError) {
  auto cache = MustOpen(Options());
  ASSERT_NE(cache, nullptr);
  auto inspector = Inspector(server_.port());
  // A list where the cache expects a string.
  EXPECT_EQ(MustCommand(*inspector, {"LPUSH", "test:query_embedding:list", "a", "b"}).integer, 2);
  EXPECT_FALSE(cache->Get(kQuery, "list").has_value());  // GET: -WRONGTYPE
  CacheStats stats = cache->Stats();
  EXPECT_EQ(stats.redis_errors, 1u);
  EXPECT_EQ(stats.kinds[0].redis_misses, 1u);
  EXPECT_NE(stats.redis_last_error.find("WRONGTYPE"), std::string::npos) << stats.redis_last_error;
  // The server answered: Redis stays in use for other keys.
  EXPECT_TRUE(stats.redis_up);
  cache->Put(kQuery, "fine", "v");
  cache->ClearMemory();
  EXPECT_EQ(cache->Get(kQuery, "fine"), "v");
  // MGET reports a list as missing.
  std::vector<std::string> keys = {"list", "fine"};
  std::vector<std::optional<std::string>> out;
  cache->ClearMemory();
  cache->GetMany(kQuery, keys, &out);
  EXPECT_FALSE(out[0].has_value());
  EXPECT_EQ(out[1], "v");
  // SET over the list replaces it (SET ignores the old type).
  cache->Put(kQuery, "list", "now a string");
  cache->ClearMemory();
  EXPECT_EQ(cache->Get(kQuery, "list"), "now a string");
}

TEST_F(RedisCacheTest, KilledServerFallsBackToMemoryThenReconnects) {
  auto cache = MustOpen(Options());
  ASSERT_NE(cache, nullptr);
  cache->Put(kQuery, "before", "1");
  ASSERT_TRUE(cache->Stats().redis_up);

  server_.Kill();
  // Memory keeps serving; the first Redis call fails, later ones are skipped.
  EXPECT_EQ(cache->Get(kQuery, "before"), "1");
  cache->Put(kQuery, "during", "2");
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(cache->Get(kQuery, "absent" + std::to_string(i)));
  EXPECT_EQ(cache->Get(kQuery, "during"), "2");
  CacheStats stats = cache->Stats();
  EXPECT_FALSE(stats.redis_up);
  EXPECT_GE(stats.redis_errors, 1u);
  EXPECT_GE(stats.redis_skipped, 1u);
  EXPECT_FALSE(stats.redis_last_error.empty());

  std::string error;
  ASSERT_TRUE(server_.Restart(&error)) << error;
  ASSERT_TRUE(Eventually([&] { cache->Get(kQuery, "probe"); },
                         [&] { return cache->Stats().redis_up; }))
      << "did not reconnect: " << cache->Stats().redis_last_error;
  stats = cache->Stats();
  EXPECT_GE(stats.redis_reconnects, 1u);
  // Redis is in use again (the restarted server is empty).
  cache->Put(kQuery, "after", "3");
  auto inspector = Inspector(server_.port());
  EXPECT_EQ(MustCommand(*inspector, {"GET", "test:query_embedding:after"}).str, "3");
  cache->ClearMemory();
  EXPECT_EQ(cache->Get(kQuery, "after"), "3");
}

TEST_F(RedisCacheTest, HungServerCostsAboutOneTimeout) {
  CacheOptions options = Options();
  options.redis_timeout = milliseconds(50);
  options.reconnect_min = milliseconds(1000);
  options.reconnect_max = milliseconds(2000);
  auto cache = MustOpen(options);
  ASSERT_NE(cache, nullptr);
  cache->Put(kQuery, "warm", "w");
  ASSERT_TRUE(cache->Stats().redis_up);

  server_.Pause();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(cache->Get(kQuery, "absent").has_value());
  EXPECT_LT(SecondsSince(t0), 2.0) << "a Get against a hung Redis must not hang";
  CacheStats stats = cache->Stats();
  EXPECT_FALSE(stats.redis_up);
  EXPECT_GE(stats.redis_errors, 1u);

  // During the backoff, calls skip Redis without waiting.
  const uint64_t skipped = stats.redis_skipped;
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 50; ++i) cache->Put(kQuery, "p" + std::to_string(i), "v");
  EXPECT_EQ(cache->Get(kQuery, "p7"), "v");
  EXPECT_FALSE(cache->Get(kQuery, "absent2").has_value());
  EXPECT_LT(SecondsSince(t0), 2.0);
  EXPECT_GE(cache->Stats().redis_skipped, skipped + 50);

  // Concurrent callers each pay at most about one timeout.
  std::this_thread::sleep_for(milliseconds(1100));  // backoff over: probes again
  std::vector<std::thread> threads;
  std::atomic<int> slow{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      const auto start = std::chrono::steady_clock::now();
      cache->Get(kQuery, "c" + std::to_string(t));
      if (SecondsSince(start) > 2.0) ++slow;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(slow.load(), 0);
  EXPECT_FALSE(cache->Stats().redis_up);

  server_.Resume();
  ASSERT_TRUE(Eventually([&] { cache->Get(kQuery, "probe"); },
                         [&] { return cache->Stats().redis_up; }))
      << cache->Stats().redis_last_error;
  cache->Put(kQuery, "after", "a");
  cache->ClearMemory();
  EXPECT_EQ(cache->Get(kQuery, "after"), "a");
}

TEST_F(RedisCacheTest, ConcurrentCallersWithASmallPool) {
  CacheOptions options = Options();
  options.redis_connections = 2;
  options.memory_bytes = 16 << 10;  // small: many evictions, many Redis reads
  auto cache = MustOpen(options);
  ASSERT_NE(cache, nullptr);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 400; ++i) {
        const std::string key = "k" + std::to_string((i * 7 + t) % 300);
        const std::string value = "value-of-" + key + std::string(100, '.');
        if (i % 3 == 0) {
          cache->Put(kChunk, key, value);
        } else if (i % 3 == 1) {
          auto got = cache->Get(kChunk, key);
          if (got.has_value() && *got != value) ++wrong;
        } else {
          std::vector<std::string> keys = {key, "k" + std::to_string(i % 300)};
          std::vector<std::optional<std::string>> out;
          cache->GetMany(kChunk, keys, &out);
          for (size_t j = 0; j < keys.size(); ++j) {
            if (out[j].has_value() && *out[j] != "value-of-" + keys[j] + std::string(100, '.')) {
              ++wrong;
            }
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  const CacheStats stats = cache->Stats();
  EXPECT_EQ(stats.redis_errors, 0u);
  EXPECT_TRUE(stats.redis_up);
  EXPECT_LE(stats.memory_bytes, stats.memory_budget);
  // What reached Redis reads back right (some Puts may have skipped it when
  // both connections were busy).
  cache->ClearMemory();
  int found = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "k" + std::to_string(i);
    auto got = cache->Get(kChunk, key);
    if (!got.has_value()) continue;
    ++found;
    EXPECT_EQ(*got, "value-of-" + key + std::string(100, '.'));
  }
  EXPECT_GT(found, 0);
  EXPECT_EQ(cache->Stats().kinds[1].redis_hits, stats.kinds[1].redis_hits + found);
}

class RedisAuthTest : public RedisCacheTest {
 protected:
  std::vector<std::string> ExtraArgs() const override {
    return {"--requirepass", "top:secret",  // the default user
            "--user", "alice", "on", ">alicepw", "~*", "&*", "+@all"};
  }
};

TEST_F(RedisAuthTest, PasswordAndDatabase) {
  CacheOptions options = Options();
  options.redis_url = server_.url(":top%3Asecret@", 3);
  auto cache = MustOpen(options);
  ASSERT_NE(cache, nullptr);
  cache->Put(kQuery, "q", "in-db-3");
  EXPECT_TRUE(cache->Stats().redis_up) << cache->Stats().redis_last_error;
  EXPECT_EQ(cache->Stats().redis_errors, 0u);
  auto db3 = Inspector(server_.port(), "", "top:secret", 3);
  auto db0 = Inspector(server_.port(), "", "top:secret", 0);
  EXPECT_EQ(MustCommand(*db3, {"GET", "test:query_embedding:q"}).str, "in-db-3");
  EXPECT_EQ(MustCommand(*db0, {"EXISTS", "test:query_embedding:q"}).integer, 0);
  cache->ClearMemory();
  EXPECT_EQ(cache->Get(kQuery, "q"), "in-db-3");
}

TEST_F(RedisAuthTest, AclUser) {
  CacheOptions options = Options();
  options.redis_url = server_.url("alice:alicepw@");
  auto cache = MustOpen(options);
  ASSERT_NE(cache, nullptr);
  cache->Put(kChunk, "c", "v");
  cache->ClearMemory();
  EXPECT_EQ(cache->Get(kChunk, "c"), "v");
  EXPECT_EQ(cache->Stats().redis_errors, 0u);
  auto inspector = Inspector(server_.port(), "alice", "alicepw");
  EXPECT_EQ(MustCommand(*inspector, {"ACL", "WHOAMI"}).str, "alice");
}

TEST_F(RedisAuthTest, WrongPasswordRunsOnMemory) {
  for (const std::string& userinfo : {std::string(":wrong@"), std::string(""),
                                      std::string("alice:wrong@")}) {
    CacheOptions options = Options();
    options.redis_url = server_.url(userinfo);
    auto cache = MustOpen(options);  // not an error: Redis is optional
    ASSERT_NE(cache, nullptr);
    cache->Put(kQuery, "q", "v");
    EXPECT_EQ(cache->Get(kQuery, "q"), "v");
    EXPECT_FALSE(cache->Get(kQuery, "absent").has_value());
    const CacheStats stats = cache->Stats();
    EXPECT_FALSE(stats.redis_up) << userinfo;
    EXPECT_GE(stats.redis_errors, 1u) << userinfo;
    EXPECT_FALSE(stats.redis_last_error.empty());
    EXPECT_EQ(stats.redis_last_error.find("wrong"), std::string::npos)
        << "the password must not be in messages: " << stats.redis_last_error;
  }
}

// ------------------------------------------------------ no server, bad servers

TEST(RedisFaultTest, DownAtStart) {
  CacheOptions options;
  options.redis_url = "redis://127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  options.reconnect_min = milliseconds(10);
  options.reconnect_max = milliseconds(40);
  auto cache = MustOpen(options);
  ASSERT_NE(cache, nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    cache->Put(kQuery, "k" + std::to_string(i), "v");
    EXPECT_EQ(cache->Get(kQuery, "k" + std::to_string(i)), "v");
    EXPECT_FALSE(cache->Get(kQuery, "missing").has_value());
  }
  EXPECT_LT(SecondsSince(t0), 5.0);
  std::this_thread::sleep_for(milliseconds(50));
  cache->Get(kQuery, "missing");  // a probe after the backoff, refused again
  const CacheStats stats = cache->Stats();
  EXPECT_TRUE(stats.redis_configured);
  EXPECT_FALSE(stats.redis_up);
  EXPECT_GE(stats.redis_errors, 2u);
  EXPECT_GT(stats.redis_skipped, 0u);
  EXPECT_EQ(stats.redis_reconnects, 0u);
  EXPECT_EQ(stats.kinds[0].memory_hits, 100u);
}

// A peer that is gone while a large pipelined write is under way: the writes
// fail with EPIPE; SIGPIPE (default action: kill the process) must not fire.
TEST(RedisFaultTest, PeerClosedDuringWriteIsAnErrorNotSigpipe) {
  ASSERT_EQ(::signal(SIGPIPE, SIG_DFL), SIG_DFL) << "the test expects SIGPIPE's default action";
  FakeRedisServer fake("", /*close_at_once=*/true);
  ASSERT_NE(fake.port(), 0);
  CacheOptions options;
  options.redis_url = fake.url();
  options.redis_timeout = milliseconds(500);
  options.reconnect_min = milliseconds(1);
  options.reconnect_max = milliseconds(2);
  auto cache = MustOpen(options);
  ASSERT_NE(cache, nullptr);
  std::vector<std::string> keys, values;
  for (int i = 0; i < 64; ++i) {
    keys.push_back("k" + std::to_string(i));
    values.push_back(std::string(64 << 10, 'v'));
  }
  for (int round = 0; round < 10; ++round) {
    std::this_thread::sleep_for(milliseconds(5));  // past the backoff
    cache->PutMany(kChunk, keys, values);
    cache->Put(kChunk, "one", values[0]);
  }
  const CacheStats stats = cache->Stats();
  EXPECT_GE(stats.redis_errors, 1u);
  EXPECT_FALSE(stats.redis_up);
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0);
}

// Each case: a fake server's canned answer, which must be an error.
struct FakeCase {
  const char* name;
  std::string reply;
};

void PrintTo(const FakeCase& c, std::ostream* os) { *os << c.name; }

class FakeServerTest : public ::testing::TestWithParam<FakeCase> {};

TEST_P(FakeServerTest, BadRepliesAreErrorsNotCrashes) {
  FakeRedisServer fake(GetParam().reply);
  ASSERT_NE(fake.port(), 0);
  CacheOptions options;
  options.redis_url = fake.url();
  options.redis_timeout = milliseconds(100);
  options.reconnect_min = milliseconds(5);
  options.reconnect_max = milliseconds(20);
  auto cache = MustOpen(options);
  ASSERT_NE(cache, nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    const std::string key = "k" + std::to_string(i);
    EXPECT_FALSE(cache->Get(kQuery, key).has_value());
    cache->Put(kChunk, key, "v");
    EXPECT_EQ(cache->Get(kChunk, key), "v");  // memory still works
    std::vector<std::string> keys = {"r" + key, "other" + key};
    const std::vector<std::string> values = {"x", "y"};
    std::vector<std::optional<std::string>> out;
    cache->GetMany(kResult, keys, &out);
    EXPECT_EQ(out.size(), 2u);
    EXPECT_FALSE(out[0].has_value() || out[1].has_value());
    cache->PutMany(kResult, keys, values);
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_LT(SecondsSince(t0), 20.0);
  const CacheStats stats = cache->Stats();
  EXPECT_GE(stats.redis_errors, 1u);
  EXPECT_FALSE(stats.redis_up);
  EXPECT_EQ(stats.kinds[0].redis_hits + stats.kinds[2].redis_hits, 0u);
  EXPECT_GT(fake.requests(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Replies, FakeServerTest,
    ::testing::Values(FakeCase{"Garbage", std::string("hello \x00\xff garbage\r\n", 18)},
                      FakeCase{"Integer", ":42\r\n"},
                      FakeCase{"Array", "*2\r\n$1\r\na\r\n$1\r\nb\r\n"},
                      FakeCase{"NestedArray", "*1\r\n*1\r\n:1\r\n"},
                      FakeCase{"BadLength", "$-7\r\n"},
                      FakeCase{"Silent", ""}),
    [](const ::testing::TestParamInfo<FakeCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace quarry::cache
