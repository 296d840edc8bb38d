#include "cli/cache_flags.h"

#include <cstdlib>

#include "cache/redis_client.h"

namespace quarry::cli {
namespace {

Result<std::vector<cache::Kind>> ParseKinds(const std::string& name, const char* flag) {
  if (name == "query") return std::vector<cache::Kind>{cache::Kind::kQueryEmbedding};
  if (name == "chunk") return std::vector<cache::Kind>{cache::Kind::kChunkEmbedding};
  if (name == "results") return std::vector<cache::Kind>{cache::Kind::kSearchResult};
  if (name == "all") {
    return std::vector<cache::Kind>{cache::Kind::kQueryEmbedding, cache::Kind::kChunkEmbedding,
                                    cache::Kind::kSearchResult};
  }
  return Status::InvalidArgument(std::string(flag) + ": unknown cache kind '" + name +
                                 "' (query, chunk, results, all)");
}

}  // namespace

void AddCacheFlags(CLI::App* cmd, CacheFlags* f) {
  if (const char* env = std::getenv("QUARRY_REDIS_URL"); env != nullptr) f->redis_url = env;
  cmd->add_option("--cache-mb", f->memory_mb, "in-memory cache budget, MiB (0 and no --redis: off)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--redis", f->redis_url,
                  "shared cache: redis://[:password@]host[:port][/db] (default $QUARRY_REDIS_URL)");
  cmd->add_option("--cache-prefix", f->prefix, "Redis key prefix")->capture_default_str();
  cmd->add_option("--cache-ttl", f->ttls, "KIND=SECONDS for query, chunk, results (0: none)");
  cmd->add_option("--no-cache", f->off, "turn off a cache kind: query, chunk, results or all");
  cmd->add_option("--redis-timeout-ms", f->redis_timeout_ms, "Redis connect/command timeout")
      ->capture_default_str()
      ->check(CLI::Range(1, 60000));
}

Result<cache::CacheOptions> CacheOptionsFrom(const CacheFlags& f) {
  cache::CacheOptions o;
  o.memory_bytes = f.memory_mb << 20;
  o.redis_url = f.redis_url;
  o.key_prefix = f.prefix;
  o.redis_timeout = std::chrono::milliseconds(f.redis_timeout_ms);
  o.kinds[static_cast<size_t>(cache::Kind::kQueryEmbedding)].ttl = std::chrono::hours(24 * 7);
  o.kinds[static_cast<size_t>(cache::Kind::kChunkEmbedding)].ttl = std::chrono::hours(24 * 30);
  o.kinds[static_cast<size_t>(cache::Kind::kSearchResult)].ttl = std::chrono::hours(1);
  for (const std::string& spec : f.ttls) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument("--cache-ttl: expected KIND=SECONDS, got '" + spec + "'");
    }
    QUARRY_ASSIGN_OR_RETURN(auto kinds, ParseKinds(spec.substr(0, eq), "--cache-ttl"));
    const std::string secs = spec.substr(eq + 1);
    char* end = nullptr;
    const long long value = std::strtoll(secs.c_str(), &end, 10);
    if (secs.empty() || *end != '\0' || value < 0 || value > (1ll << 31)) {
      return Status::InvalidArgument("--cache-ttl: '" + secs + "' is not a number of seconds");
    }
    for (cache::Kind kind : kinds) o.kinds[static_cast<size_t>(kind)].ttl = std::chrono::seconds(value);
  }
  for (const std::string& name : f.off) {
    QUARRY_ASSIGN_OR_RETURN(auto kinds, ParseKinds(name, "--no-cache"));
    for (cache::Kind kind : kinds) o.kinds[static_cast<size_t>(kind)].enabled = false;
  }
  if (!o.redis_url.empty()) QUARRY_RETURN_IF_ERROR(cache::ParseRedisUrl(o.redis_url).status());
  return o;
}

Result<std::unique_ptr<cache::LayeredCache>> OpenCache(const CacheFlags& f) {
  QUARRY_ASSIGN_OR_RETURN(cache::CacheOptions options, CacheOptionsFrom(f));
  bool any = false;
  for (const auto& kind : options.kinds) any = any || kind.enabled;
  if (!any || (options.memory_bytes == 0 && options.redis_url.empty())) {
    return std::unique_ptr<cache::LayeredCache>();
  }
  if (options.memory_bytes == 0) options.memory_bytes = 1 << 20;  // Redis only: a token layer
  return cache::LayeredCache::Open(options);
}

namespace {

// A field of an INFO section ("name:value" lines); -1 when absent.
long long InfoField(const std::string& info, const std::string& name) {
  const size_t at = info.find("\n" + name + ":");
  if (at == std::string::npos) return -1;
  return std::strtoll(info.c_str() + at + name.size() + 2, nullptr, 10);
}

std::string GlobEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

nlohmann::json RedisCacheSummary(const CacheFlags& f) {
  if (f.redis_url.empty()) return {{"configured", false}};
  auto url = cache::ParseRedisUrl(f.redis_url);
  if (!url.ok()) return {{"configured", true}, {"error", url.status().message()}};
  cache::RedisClientOptions options;
  options.url = *url;
  options.timeout = std::chrono::milliseconds(std::max(f.redis_timeout_ms, 500));
  options.connections = 1;
  cache::RedisClient client(options);
  nlohmann::json out = {{"configured", true}, {"endpoint", client.endpoint()}, {"prefix", f.prefix}};
  if (Status connected = client.Connect(); !connected.ok()) {
    out["up"] = false;
    out["error"] = connected.message();
    return out;
  }
  auto run = [&client](std::vector<std::string> argv) { return client.Command(argv); };
  nlohmann::json keys = nlohmann::json::object();
  for (size_t k = 0; k < cache::kKindCount; ++k) {
    const char* kind = cache::KindName(static_cast<cache::Kind>(k));
    const std::string pattern = GlobEscape(f.prefix + kind + ":") + "*";
    long long count = 0;
    std::string cursor = "0";
    do {
      auto reply = run({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
      if (!reply.ok() || reply->type != cache::RedisReply::Type::kArray ||
          reply->elements.size() != 2) {
        out["up"] = false;
        out["error"] = reply.ok() ? "unexpected SCAN reply" : reply.status().message();
        return out;
      }
      cursor = reply->elements[0].str;
      count += static_cast<long long>(reply->elements[1].elements.size());
    } while (cursor != "0");
    keys[kind] = count;
  }
  out["up"] = true;
  out["entries"] = keys;
  auto memory = run({"INFO", "memory"});
  if (memory.ok()) out["used_memory_bytes"] = InfoField("\n" + memory->str, "used_memory");
  auto stats = run({"INFO", "stats"});
  if (stats.ok()) {
    const long long hits = InfoField("\n" + stats->str, "keyspace_hits");
    const long long misses = InfoField("\n" + stats->str, "keyspace_misses");
    out["keyspace_hits"] = hits;
    out["keyspace_misses"] = misses;
    if (hits + misses > 0) out["keyspace_hit_rate"] = double(hits) / double(hits + misses);
  }
  return out;
}

}  // namespace quarry::cli
