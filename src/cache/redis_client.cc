#include "cache/redis_client.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "common/log.h"

namespace quarry::cache {
namespace {

// Pipelined SETs are written and read back in groups of this many commands.
constexpr size_t kPipelineGroup = 1000;

// Blocks SIGPIPE on this thread while hiredis writes to a socket whose peer may
// be gone, and swallows a SIGPIPE raised meanwhile; the write then fails with
// EPIPE like any other I/O error.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0 && sigismember(&old_, SIGPIPE) == 0;
  }
  ~ScopedSigpipeBlock() {
    if (!blocked_) return;  // already blocked by the caller: not ours to touch
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{0, 0};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
  bool blocked_ = false;
};

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

timeval ToTimeval(std::chrono::milliseconds ms) {
  const long long total = std::max<long long>(1, ms.count());
  timeval tv;
  tv.tv_sec = static_cast<time_t>(total / 1000);
  tv.tv_usec = static_cast<suseconds_t>((total % 1000) * 1000);
  return tv;
}

const char* ReplyTypeName(int type) {
  switch (type) {
    case REDIS_REPLY_STRING: return "string";
    case REDIS_REPLY_ARRAY: return "array";
    case REDIS_REPLY_INTEGER: return "integer";
    case REDIS_REPLY_NIL: return "nil";
    case REDIS_REPLY_STATUS: return "status";
    case REDIS_REPLY_ERROR: return "error";
    default: return "unknown";
  }
}

std::string ReplyText(const redisReply* reply) {
  if (reply->str == nullptr) return "";
  return std::string(reply->str, reply->len);
}

// Why a command got no reply: the connection is broken either way.
Status ConnectionError(const redisContext* ctx, const char* name,
                       std::chrono::milliseconds timeout) {
  std::string what = ctx->errstr;
  if (ctx->err == REDIS_ERR_PROTOCOL) {
    return Status::Corruption(std::string("redis ") + name + ": protocol error: " + what);
  }
  if (ctx->err == REDIS_ERR_IO &&
      (what.find("temporarily unavailable") != std::string::npos ||
       what.find("timed out") != std::string::npos)) {
    what = "timed out after " + std::to_string(timeout.count()) + " ms";
  } else if (ctx->err == REDIS_ERR_EOF) {
    what = "connection closed by the server";
  }
  return Status::IOError(std::string("redis ") + name + ": " + what);
}

Status UnexpectedReply(const char* name, const redisReply* reply) {
  return Status::Corruption(std::string("redis ") + name + ": unexpected " +
                            ReplyTypeName(reply->type) + " reply");
}

Status ErrorReply(const char* name, const redisReply* reply) {
  return Status::FailedPrecondition(std::string("redis ") + name + ": " + ReplyText(reply));
}

// An error reply about one key (WRONGTYPE) leaves the server usable; any
// other (NOAUTH, LOADING, OOM, READONLY, ...) is about the server's state and
// would repeat for every call, so it counts as a failure of the connection.
bool KeyLevelError(const redisReply* reply) {
  return ReplyText(reply).starts_with("WRONGTYPE");
}

// Sends one command and waits for its reply; null (and *error set) when the
// connection failed.
ReplyPtr Call(redisContext* ctx, std::span<const std::string_view> argv, const char* name,
              std::chrono::milliseconds timeout, Status* error) {
  std::vector<const char*> ptrs(argv.size());
  std::vector<size_t> lens(argv.size());
  for (size_t i = 0; i < argv.size(); ++i) {
    ptrs[i] = argv[i].data();
    lens[i] = argv[i].size();
  }
  ReplyPtr reply(static_cast<redisReply*>(
      redisCommandArgv(ctx, static_cast<int>(argv.size()), ptrs.data(), lens.data())));
  if (reply == nullptr) *error = ConnectionError(ctx, name, timeout);
  return reply;
}

// The SET arguments for a time to live: EX in whole seconds, else PX.
void AppendTtl(std::chrono::milliseconds ttl, std::vector<std::string>* args) {
  if (ttl.count() <= 0) return;
  if (ttl.count() % 1000 == 0) {
    args->push_back("EX");
    args->push_back(std::to_string(ttl.count() / 1000));
  } else {
    args->push_back("PX");
    args->push_back(std::to_string(ttl.count()));
  }
}

RedisReply ConvertReply(const redisReply* reply) {
  RedisReply out;
  switch (reply->type) {
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::kString; break;
    case REDIS_REPLY_ARRAY: out.type = RedisReply::Type::kArray; break;
    case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::kInteger; break;
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::kStatus; break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::kError; break;
    default: out.type = RedisReply::Type::kNil; break;
  }
  if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
      reply->type == REDIS_REPLY_ERROR) {
    out.str = ReplyText(reply);
  }
  out.integer = reply->integer;
  if (reply->type == REDIS_REPLY_ARRAY) {
    out.elements.reserve(reply->elements);
    for (size_t i = 0; i < reply->elements; ++i) {
      out.elements.push_back(ConvertReply(reply->element[i]));
    }
  }
  return out;
}

}  // namespace

RedisClient::RedisClient(RedisClientOptions options)
    : options_(std::move(options)), pool_(std::max<size_t>(1, options_.connections)) {}

RedisClient::~RedisClient() {
  for (Conn& conn : pool_) {
    if (conn.ctx != nullptr) redisFree(conn.ctx);
  }
}

std::string RedisClient::endpoint() const {
  return options_.url.host + ":" + std::to_string(options_.url.port) + "/" +
         std::to_string(options_.url.db);
}

RedisClientStats RedisClient::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  RedisClientStats out = stats_;
  out.up = state_ == State::kUp;
  return out;
}

std::optional<RedisClient::Lease> RedisClient::Acquire() {
  std::lock_guard<std::mutex> lock(mu_);
  bool probe = false;
  if (state_ == State::kDown) {
    if (probing_ || std::chrono::steady_clock::now() < retry_at_) {
      ++stats_.skipped;
      return std::nullopt;
    }
    probe = true;  // the backoff is over: this caller tries, the others skip
  }
  // An open idle connection first; else an idle slot to connect.
  size_t slot = pool_.size();
  for (size_t i = 0; i < pool_.size(); ++i) {
    if (pool_[i].busy) continue;
    if (pool_[i].ctx != nullptr) {
      slot = i;
      break;
    }
    if (slot == pool_.size()) slot = i;
  }
  if (slot == pool_.size()) {
    ++stats_.skipped;
    return std::nullopt;
  }
  Conn& conn = pool_[slot];
  conn.busy = true;
  if (conn.ctx == nullptr) conn.generation = generation_;
  if (probe) probing_ = true;
  return Lease{slot, probe, conn.ctx};
}

void RedisClient::Release(const Lease& lease, redisContext* ctx, bool opened,
                          const Outcome& outcome) {
  std::vector<redisContext*> to_free;
  std::string message;
  bool went_down = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Conn& conn = pool_[lease.slot];
    conn.busy = false;
    if (lease.probe) probing_ = false;
    if (opened) {
      if (conn.had_connection || ever_failed_) ++stats_.reconnects;
      conn.had_connection = true;
    }
    if (!outcome.status.ok()) {
      ++stats_.errors;
      stats_.last_error = outcome.status.message();
    }
    if (outcome.broken) {
      if (ctx != nullptr) to_free.push_back(ctx);
      conn.ctx = nullptr;
      // A connection opened before the latest outage failing is part of that
      // outage; anything else is news (or a failed probe: back off longer).
      const bool fresh = conn.generation == generation_ && state_ != State::kDown;
      if (fresh || lease.probe) {
        ever_failed_ = true;
        backoff_ = state_ == State::kDown ? std::min(backoff_ * 2, options_.reconnect_max)
                                          : options_.reconnect_min;
        backoff_ = std::max(backoff_, std::chrono::milliseconds(1));
        retry_at_ = std::chrono::steady_clock::now() + backoff_;
        ++generation_;
        // The other idle connections are suspect too: drop them.
        for (Conn& other : pool_) {
          if (!other.busy && other.ctx != nullptr) {
            to_free.push_back(other.ctx);
            other.ctx = nullptr;
          }
        }
        if (state_ != State::kDown) {
          went_down = true;
          message = "redis cache at " + endpoint() + " is unavailable (" +
                    outcome.status.message() + "); serving from memory, retrying with backoff";
        }
        state_ = State::kDown;
      }
    } else {
      conn.ctx = ctx;
      conn.generation = generation_;
      if (state_ != State::kUp) {
        message = state_ == State::kDown ? "redis cache at " + endpoint() + " is reachable again"
                                         : "redis cache connected to " + endpoint();
        state_ = State::kUp;
      }
      backoff_ = std::chrono::milliseconds(0);
    }
  }
  for (redisContext* c : to_free) redisFree(c);
  if (!message.empty()) {
    if (went_down) {
      LogWarning(message);
    } else {
      LogInfo(message);
    }
  }
}

RedisClient::Outcome RedisClient::Open(redisContext** out) {
  const timeval tv = ToTimeval(options_.timeout);
  const RedisUrl& url = options_.url;
  redisContext* ctx = redisConnectWithTimeout(url.host.c_str(), url.port, tv);
  if (ctx == nullptr) return {Status::IOError("redis connect: out of memory"), true};
  auto fail = [&](std::string what) -> Outcome {
    redisFree(ctx);
    return {Status::IOError("redis connect to " + endpoint() + ": " + what), true};
  };
  if (ctx->err != 0) return fail(ctx->errstr);
  if (redisSetTimeout(ctx, tv) != REDIS_OK) return fail("cannot set the socket timeout");
  // AUTH then SELECT; any answer but +OK makes the connection useless.
  auto setup = [&](std::vector<std::string> argv) -> std::string {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const std::string& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    ReplyPtr reply(static_cast<redisReply*>(
        redisCommandArgv(ctx, static_cast<int>(argv.size()), ptrs.data(), lens.data())));
    const std::string name = argv[0];
    if (reply == nullptr) return name + ": " + ctx->errstr;
    if (reply->type == REDIS_REPLY_ERROR) return name + " refused: " + ReplyText(reply.get());
    if (reply->type != REDIS_REPLY_STATUS) {
      return name + ": unexpected " + std::string(ReplyTypeName(reply->type)) + " reply";
    }
    return "";
  };
  if (!url.password.empty()) {
    std::vector<std::string> argv = {"AUTH"};
    if (!url.user.empty()) argv.push_back(url.user);
    argv.push_back(url.password);
    std::string error = setup(std::move(argv));
    if (!error.empty()) return fail(error);
  }
  if (url.db != 0) {
    std::string error = setup({"SELECT", std::to_string(url.db)});
    if (!error.empty()) return fail(error);
  }
  *out = ctx;
  return {};
}

template <typename Fn>
Status RedisClient::Run(Fn&& fn) {
  std::optional<Lease> lease = Acquire();
  if (!lease) return Status::Aborted("redis skipped (backing off or no free connection)");
  ScopedSigpipeBlock no_sigpipe;
  redisContext* ctx = lease->ctx;
  bool opened = false;
  Outcome outcome;
  if (ctx == nullptr) {
    outcome = Open(&ctx);
    opened = outcome.status.ok();
  }
  if (outcome.status.ok()) outcome = fn(ctx);
  Release(*lease, ctx, opened, outcome);
  return outcome.status;
}

Status RedisClient::Connect() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Conn& conn : pool_) {
      if (conn.ctx != nullptr) return Status::OK();
    }
  }
  return Run([](redisContext*) { return Outcome{}; });
}

Status RedisClient::Get(std::string_view key, std::optional<std::string>* value) {
  value->reset();
  return Run([&](redisContext* ctx) -> Outcome {
    const std::string_view argv[] = {"GET", key};
    Status error;
    ReplyPtr reply = Call(ctx, argv, "GET", options_.timeout, &error);
    if (reply == nullptr) return {error, true};
    switch (reply->type) {
      case REDIS_REPLY_STRING: *value = ReplyText(reply.get()); return {};
      case REDIS_REPLY_NIL: return {};
      case REDIS_REPLY_ERROR:
        return {ErrorReply("GET", reply.get()), !KeyLevelError(reply.get())};
      default: return {UnexpectedReply("GET", reply.get()), true};
    }
  });
}

Status RedisClient::MGet(std::span<const std::string> keys,
                         std::vector<std::optional<std::string>>* values) {
  values->assign(keys.size(), std::nullopt);
  if (keys.empty()) return Status::OK();
  return Run([&](redisContext* ctx) -> Outcome {
    std::vector<std::string_view> argv;
    argv.reserve(keys.size() + 1);
    argv.push_back("MGET");
    for (const std::string& key : keys) argv.push_back(key);
    Status error;
    ReplyPtr reply = Call(ctx, argv, "MGET", options_.timeout, &error);
    if (reply == nullptr) return {error, true};
    if (reply->type == REDIS_REPLY_ERROR) {
      return {ErrorReply("MGET", reply.get()), !KeyLevelError(reply.get())};
    }
    if (reply->type != REDIS_REPLY_ARRAY) return {UnexpectedReply("MGET", reply.get()), true};
    if (reply->elements != keys.size()) {
      return {Status::Corruption("redis MGET: " + std::to_string(reply->elements) +
                                 " values for " + std::to_string(keys.size()) + " keys"),
              true};
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      const redisReply* element = reply->element[i];
      if (element->type == REDIS_REPLY_STRING) {
        (*values)[i] = ReplyText(element);
      } else if (element->type != REDIS_REPLY_NIL) {
        values->assign(keys.size(), std::nullopt);
        return {UnexpectedReply("MGET element", element), true};
      }
    }
    return {};
  });
}

Status RedisClient::Set(std::string_view key, std::string_view value,
                        std::chrono::milliseconds ttl) {
  return Run([&](redisContext* ctx) -> Outcome {
    std::vector<std::string> ttl_args;
    AppendTtl(ttl, &ttl_args);
    std::vector<std::string_view> argv = {"SET", key, value};
    for (const std::string& a : ttl_args) argv.push_back(a);
    Status error;
    ReplyPtr reply = Call(ctx, argv, "SET", options_.timeout, &error);
    if (reply == nullptr) return {error, true};
    if (reply->type == REDIS_REPLY_STATUS) return {};
    if (reply->type == REDIS_REPLY_ERROR) {
      return {ErrorReply("SET", reply.get()), !KeyLevelError(reply.get())};
    }
    return {UnexpectedReply("SET", reply.get()), true};
  });
}

Status RedisClient::SetMany(std::span<const std::string> keys,
                            std::span<const std::string> values,
                            std::chrono::milliseconds ttl) {
  const size_t n = std::min(keys.size(), values.size());
  if (n == 0) return Status::OK();
  return Run([&](redisContext* ctx) -> Outcome {
    std::vector<std::string> ttl_args;
    AppendTtl(ttl, &ttl_args);
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    Outcome result;
    for (size_t begin = 0; begin < n; begin += kPipelineGroup) {
      const size_t end = std::min(n, begin + kPipelineGroup);
      for (size_t i = begin; i < end; ++i) {
        ptrs.assign({"SET", keys[i].data(), values[i].data()});
        lens.assign({3, keys[i].size(), values[i].size()});
        for (const std::string& a : ttl_args) {
          ptrs.push_back(a.data());
          lens.push_back(a.size());
        }
        if (redisAppendCommandArgv(ctx, static_cast<int>(ptrs.size()), ptrs.data(),
                                   lens.data()) != REDIS_OK) {
          return {ConnectionError(ctx, "SET (pipelined)", options_.timeout), true};
        }
      }
      // Every reply is read, so that the connection stays in step.
      for (size_t i = begin; i < end; ++i) {
        void* raw = nullptr;
        if (redisGetReply(ctx, &raw) != REDIS_OK || raw == nullptr) {
          return {ConnectionError(ctx, "SET (pipelined)", options_.timeout), true};
        }
        ReplyPtr reply(static_cast<redisReply*>(raw));
        if (reply->type == REDIS_REPLY_ERROR) {
          if (!KeyLevelError(reply.get())) return {ErrorReply("SET", reply.get()), true};
          if (result.status.ok()) result = {ErrorReply("SET", reply.get()), false};
        } else if (reply->type != REDIS_REPLY_STATUS) {
          return {UnexpectedReply("SET (pipelined)", reply.get()), true};
        }
      }
    }
    return result;
  });
}

Result<RedisReply> RedisClient::Command(std::span<const std::string> argv) {
  if (argv.empty()) return Status::InvalidArgument("redis: empty command");
  RedisReply out;
  Status st = Run([&](redisContext* ctx) -> Outcome {
    std::vector<std::string_view> views(argv.begin(), argv.end());
    Status error;
    ReplyPtr reply = Call(ctx, views, argv[0].c_str(), options_.timeout, &error);
    if (reply == nullptr) return {error, true};
    out = ConvertReply(reply.get());
    return {};
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace quarry::cache
