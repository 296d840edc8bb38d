// RedisClient: a small pool of synchronous hiredis connections with fault
// handling suited to a cache, where Redis is an optimisation and never a
// dependency.
//
// Every call borrows a free pooled connection (connecting it first when
// needed: AUTH, SELECT), runs, and gives it back. A caller that finds no free
// connection skips Redis instead of waiting. A failed connect or command
// (refused, timeout, EOF, protocol error, a reply of a type the command cannot
// return) closes the connection, counts an error, and puts the client in
// backoff: reconnect_min, doubling on each failed retry up to reconnect_max.
// While backing off every call is skipped at once; when the backoff ends one
// caller at a time probes. Connect and each command are bounded by `timeout`
// (SO_RCVTIMEO/SO_SNDTIMEO), so a hung server costs a caller at most about one
// timeout. The state change (up -> down, down -> up) is logged once.
//
// An error reply about one key (-WRONGTYPE: GET on a list) is counted as an
// error but keeps the connection and the state: one bad key must not switch
// Redis off for everyone. Any other error reply (-NOAUTH, -LOADING, -OOM,
// -READONLY) describes the server and is handled like a failed command.
//
// SIGPIPE is blocked on the calling thread while a connection writes, so a
// server that dies mid-write never kills the process.
//
// Thread-safety: every method may be called from many threads at once.
#ifndef QUARRY_CACHE_REDIS_CLIENT_H_
#define QUARRY_CACHE_REDIS_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cache.h"
#include "quarry/status.h"

struct redisContext;

namespace quarry::cache {

struct RedisClientOptions {
  RedisUrl url;
  std::chrono::milliseconds timeout{50};  // connect, and each command
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{10000};
  size_t connections = 4;  // 0 is taken as 1
};

struct RedisClientStats {
  bool up = false;  // the last call that reached the server got an answer
  uint64_t errors = 0;
  uint64_t skipped = 0;
  uint64_t reconnects = 0;  // connections opened after one was lost or failed
  std::string last_error;
};

// A reply, for Command().
struct RedisReply {
  enum class Type { kString, kArray, kInteger, kNil, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<RedisReply> elements;  // kArray
};

class RedisClient {
 public:
  explicit RedisClient(RedisClientOptions options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Status of a call: OK; Aborted when it was skipped (backing off, no free
  // connection: see IsSkipped); IOError or Corruption when the connection
  // failed; FailedPrecondition for an error reply from the server.
  static bool IsSkipped(const Status& status) { return status.code() == StatusCode::kAborted; }

  // Opens one pooled connection now, unless one is open (start-up check).
  Status Connect();
  // *value: the string, or nullopt when the key does not exist.
  Status Get(std::string_view key, std::optional<std::string>* value);
  // One MGET; *values gets one entry per key (nullopt: missing, or not a string).
  Status MGet(std::span<const std::string> keys, std::vector<std::optional<std::string>>* values);
  // SET key value [EX s | PX ms]; ttl 0: no expiry.
  Status Set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl);
  // keys[i] = values[i] for all i, pipelined in one round trip. REQUIRES: equal sizes.
  Status SetMany(std::span<const std::string> keys, std::span<const std::string> values,
                 std::chrono::milliseconds ttl);
  // Any command (tests, tools). An error reply is returned as a kError reply.
  Result<RedisReply> Command(std::span<const std::string> argv);

  RedisClientStats stats() const;
  std::string endpoint() const;  // "host:port/db", no credentials

 private:
  struct Conn {
    redisContext* ctx = nullptr;
    bool busy = false;
    bool had_connection = false;
    uint64_t generation = 0;  // outage count when it was opened
  };
  struct Lease {
    size_t slot;
    bool probe;           // the one try after a backoff
    redisContext* ctx;    // null: connect first
  };
  enum class State { kUnknown, kUp, kDown };
  // What a command did to its connection.
  struct Outcome {
    Status status;
    bool broken = false;  // the connection is unusable (or untrustworthy)
  };

  // Borrows a connection (opening it if needed), runs fn(ctx) -> Outcome,
  // gives it back and updates the state.
  template <typename Fn>
  Status Run(Fn&& fn);
  std::optional<Lease> Acquire();
  void Release(const Lease& lease, redisContext* ctx, bool opened, const Outcome& outcome);
  Outcome Open(redisContext** ctx);

  const RedisClientOptions options_;
  mutable std::mutex mu_;
  std::vector<Conn> pool_;
  State state_ = State::kUnknown;
  bool probing_ = false;
  bool ever_failed_ = false;
  uint64_t generation_ = 0;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point retry_at_{};
  RedisClientStats stats_;
};

}  // namespace quarry::cache

#endif  // QUARRY_CACHE_REDIS_CLIENT_H_
