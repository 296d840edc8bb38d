#include "embed/batcher.h"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace quarry::embed {

DynamicBatcher::DynamicBatcher(model::Encoder* encoder, const BatcherOptions& options)
    : encoder_(encoder), options_(options) {
  options_.min_batch_tokens = std::max<size_t>(1, options_.min_batch_tokens);
  options_.max_batch_tokens = std::max(options_.min_batch_tokens, options_.max_batch_tokens);
  // Start at the ceiling: the first batches measure the real cost.
  stats_.token_budget = options_.max_batch_tokens;
  worker_ = std::thread([this] { Loop(); });
}

DynamicBatcher::~DynamicBatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  worker_.join();
}

BatcherStats DynamicBatcher::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

Status DynamicBatcher::Run(std::span<const model::EncoderInput> inputs, float* out) {
  if (inputs.empty()) return Status::OK();
  // Reject bad inputs here, so that they never fail a batch shared with others.
  for (const model::EncoderInput& in : inputs) {
    QUARRY_RETURN_IF_ERROR(encoder_->Validate(in));
  }
  Request req;
  req.inputs = inputs;
  req.out = out;
  std::unique_lock<std::mutex> lock(mu_);
  if (stop_) return Status::Aborted("the embedder is shutting down");
  queue_.push_back(&req);
  work_cv_.notify_one();
  done_cv_.wait(lock, [&] { return req.finished; });
  return req.status;
}

void DynamicBatcher::Loop() {
  struct Piece {
    Request* req;
    size_t begin, end;
  };
  std::vector<Piece> pieces;
  std::vector<model::EncoderInput> batch;
  std::vector<float> out;
  const size_t dim = static_cast<size_t>(encoder_->output_dim());
  for (;;) {
    pieces.clear();
    batch.clear();
    size_t tokens = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      const size_t budget = stats_.token_budget;
      // Oldest requests first; a request larger than the budget is split.
      while (!queue_.empty()) {
        Request* r = queue_.front();
        const size_t begin = r->next;
        while (r->next < r->inputs.size()) {
          const size_t len = r->inputs[r->next].ids.size();
          if (!batch.empty() && tokens + len > budget) break;
          batch.push_back(r->inputs[r->next]);
          tokens += len;
          ++r->next;
        }
        if (r->next > begin) pieces.push_back({r, begin, r->next});
        if (r->next < r->inputs.size()) break;  // budget reached
        queue_.pop_front();
      }
    }
    out.resize(batch.size() * dim);
    const auto t0 = std::chrono::steady_clock::now();
    Status st = encoder_->Run(batch, out.data());
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    size_t at = 0;
    for (const Piece& p : pieces) {
      const size_t n = p.end - p.begin;
      if (st.ok()) {
        std::memcpy(p.req->out + p.begin * dim, out.data() + at * dim, n * dim * sizeof(float));
      }
      at += n;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const Piece& p : pieces) {
        if (!st.ok() && p.req->status.ok()) p.req->status = st;
        p.req->done += p.end - p.begin;
        if (p.req->done == p.req->inputs.size()) p.req->finished = true;
      }
      stats_.batches += 1;
      stats_.sequences += batch.size();
      stats_.tokens += tokens;
      stats_.busy_ms += ms;
      if (tokens > 0 && st.ok()) {
        const double ns = ms * 1e6 / static_cast<double>(tokens);
        stats_.ns_per_token = stats_.ns_per_token == 0 ? ns : 0.8 * stats_.ns_per_token + 0.2 * ns;
        const double want = options_.target_batch_ms * 1e6 / stats_.ns_per_token;
        stats_.token_budget = static_cast<size_t>(std::clamp(
            want, static_cast<double>(options_.min_batch_tokens),
            static_cast<double>(options_.max_batch_tokens)));
      }
    }
    done_cv_.notify_all();
  }
}

}  // namespace quarry::embed
