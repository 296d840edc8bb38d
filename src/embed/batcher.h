// DynamicBatcher: many callers submit token sequences at once; one worker
// thread forms batches from whatever is pending (longest waiting first, up to
// a token budget), runs the encoder on them, and hands each caller its own
// outputs back in order.
//
// The token budget adapts toward a target batch latency from the measured
// cost per token (an exponential moving average), between a floor and a
// ceiling, so that a lone query runs at once and a bulk ingest fills batches.
//
// Thread-safety: Run may be called from any number of threads. The destructor
// waits for the worker; no Run may be in flight then.
#ifndef QUARRY_EMBED_BATCHER_H_
#define QUARRY_EMBED_BATCHER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "model/encoder.h"
#include "quarry/status.h"

namespace quarry::embed {

struct BatcherOptions {
  size_t max_batch_tokens = 16384;
  size_t min_batch_tokens = 512;
  double target_batch_ms = 200;
};

struct BatcherStats {
  uint64_t batches = 0;
  uint64_t sequences = 0;
  uint64_t tokens = 0;
  double busy_ms = 0;
  size_t token_budget = 0;  // current
  double ns_per_token = 0;  // moving average
};

class DynamicBatcher {
 public:
  // REQUIRES: encoder outlives the batcher.
  DynamicBatcher(model::Encoder* encoder, const BatcherOptions& options);
  ~DynamicBatcher();
  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // Runs the sequences (possibly together with other callers' ones) and writes
  // encoder->output_dim() floats per sequence to `out`. Blocks until done.
  Status Run(std::span<const model::EncoderInput> inputs, float* out);

  BatcherStats stats() const;

 private:
  struct Request {
    std::span<const model::EncoderInput> inputs;
    float* out = nullptr;
    size_t next = 0;       // first input not yet scheduled
    size_t done = 0;       // inputs finished
    Status status;
    bool finished = false;
  };
  void Loop();

  model::Encoder* encoder_;
  BatcherOptions options_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<Request*> queue_;
  bool stop_ = false;
  BatcherStats stats_;
  std::thread worker_;
};

}  // namespace quarry::embed

#endif  // QUARRY_EMBED_BATCHER_H_
