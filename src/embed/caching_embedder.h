// An Embedder in front of another that remembers vectors in a LayeredCache:
// queries under cache::Kind::kQueryEmbedding, documents (chunks) under
// kChunkEmbedding. The key is the inner model's fingerprint and its input key
// (the token ids it would run), so a hit is exactly the vector the model would
// compute, and re-embedding unchanged content costs no inference.
//
// Only the misses of a call go to the inner model, in one call; identical
// inputs within a call are embedded once. A cache value that does not decode
// (another version, corruption) is a miss and gets overwritten.
//
// Thread-safety: as the inner embedder and the cache (both thread-safe).
#ifndef QUARRY_EMBED_CACHING_EMBEDDER_H_
#define QUARRY_EMBED_CACHING_EMBEDDER_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "cache/cache.h"
#include "embed/embedder.h"

namespace quarry::embed {

class CachingEmbedder final : public Embedder {
 public:
  // Neither is owned; both must outlive this.
  CachingEmbedder(Embedder* inner, cache::LayeredCache* cache) : inner_(inner), cache_(cache) {}
  // Owns the inner embedder; `cache` must outlive this.
  CachingEmbedder(std::unique_ptr<Embedder> inner, cache::LayeredCache* cache)
      : owned_(std::move(inner)), inner_(owned_.get()), cache_(cache) {}

  size_t dim() const override { return inner_->dim(); }
  const std::string& model_id() const override { return inner_->model_id(); }
  const std::string& fingerprint() const override { return inner_->fingerprint(); }
  std::string InputKey(std::string_view text, TextKind kind) const override {
    return inner_->InputKey(text, kind);
  }
  Status Embed(std::span<const std::string_view> texts, TextKind kind,
               std::vector<std::vector<float>>* out) override;
  // Not cached: passed to the model.
  Status EmbedTokens(std::span<const std::vector<int32_t>> ids,
                     std::vector<std::vector<float>>* out) override {
    return inner_->EmbedTokens(ids, out);
  }

  Embedder* inner() const { return inner_; }
  // Texts answered from the cache / computed by the inner model, since start.
  uint64_t served_from_cache() const { return from_cache_.load(std::memory_order_relaxed); }
  uint64_t computed() const { return computed_.load(std::memory_order_relaxed); }

 private:
  std::unique_ptr<Embedder> owned_;
  Embedder* inner_;
  cache::LayeredCache* cache_;
  std::atomic<uint64_t> from_cache_{0};
  std::atomic<uint64_t> computed_{0};
};

}  // namespace quarry::embed

#endif  // QUARRY_EMBED_CACHING_EMBEDDER_H_
