// `quarry serve`: opens the engine and the models, runs the HTTP server until
// SIGTERM or SIGINT, then stops gracefully (in-flight requests finish) and
// closes the engine (collections flush their index snapshots).
//
// Thread-safety: call once, from the main thread, before any other thread
// exists (it blocks SIGTERM/SIGINT for the whole process and waits for them).
#ifndef QUARRY_SERVER_SERVE_H_
#define QUARRY_SERVER_SERVE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "cache/cache.h"

namespace quarry::server {

struct ServeConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 6333;
  std::string data_dir = "./data";
  uint64_t map_size_mb = 64 * 1024;
  // Model folders; the kind comes from config.json (`*ForSequenceClassification`
  // is a reranker, anything else an embedding model).
  std::vector<std::string> models;
  std::vector<std::string> rerankers;         // always rerankers
  std::vector<std::string> dimension_models;  // model ids that allow `dimensions`
  std::string precision = "fp32";             // fp32 | int8 | bf16
  std::string api_key;
  std::string read_only_api_key;
  // Requests mostly wait on the shared model batcher, which batches across
  // them: more waiting workers make bigger batches (bench/run_load.sh: 2 -> 32
  // workers took search from 183 to 876 qps at 128 clients on 2 cores).
  size_t workers = 32;
  size_t queue = 1024;
  size_t max_body_mb = 32;
  double request_timeout_s = 120;
  // The layered cache (query and chunk embeddings, search results); off when
  // cache.memory_bytes is 0 and no Redis URL is given.
  cache::CacheOptions cache;
};

// Returns the process exit code: 0 after a signal-initiated stop, 1 when
// start-up failed (the reason is printed to stderr). Prints
// "quarry: listening on http://HOST:PORT" to stdout once it accepts requests.
int Serve(const ServeConfig& config);

}  // namespace quarry::server

#endif  // QUARRY_SERVER_SERVE_H_
