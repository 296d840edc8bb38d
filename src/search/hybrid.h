// Text search over a collection in one call: embed the query, prefetch from
// the dense index and from BM25, fuse, optionally rerank with a cross-encoder,
// page. This is the everyday shortcut of the query model
// (search(text, limit, mode, rerank)); the CLI and the server call it.
//
// Defaults (documented in docs/ARCHITECTURE.md "Hybrid search"):
//   mode hybrid, fusion RRF with Qdrant's k = 2 and equal weights, each
//   retriever prefetching max(50, 2 * (offset + limit)) candidates, rerank off;
//   with rerank on, the cross-encoder rescores the first max(rerank_top,
//   offset + limit) fused candidates and its order wins.
//
// Rerank "auto" skips the cross-encoder when the first stage is already sure
// of the page, by this rule:
//   hybrid: both retrievers agree on the first min(3, limit) results (same
//           ids, same order) - two independent signals concur;
//   dense or sparse: the top hit leads the second by more than three standard
//           deviations of the first 20 scores (an outlier winner).
// A reranked answer is never served when the rule says the order could change.
//
// Thread-safety: as the collection, embedder and reranker (all thread-safe).
#ifndef QUARRY_SEARCH_HYBRID_H_
#define QUARRY_SEARCH_HYBRID_H_

#include <optional>
#include <string>
#include <vector>

#include "cache/cache.h"
#include "embed/embedder.h"
#include "quarry/collection.h"
#include "search/fusion.h"

namespace quarry::search {

enum class Mode { kHybrid, kDense, kSparse };
enum class RerankMode { kOff, kOn, kAuto };
enum class FusionMethod { kRrf, kDbsf };

Result<Mode> ParseMode(std::string_view name);            // hybrid | dense | sparse
Result<RerankMode> ParseRerankMode(std::string_view name);  // off | on | auto

struct TextSearchOptions {
  std::string text;
  size_t limit = 10;
  size_t offset = 0;
  Mode mode = Mode::kHybrid;
  std::string vector_name;  // the dense vector to search; empty: the collection's only one
  FusionMethod fusion = FusionMethod::kRrf;
  int rrf_k = 0;                // 0: the collection's default, else Qdrant's 2
  std::vector<float> weights;  // per retriever, dense first; empty: the collection's default, else equal
  size_t prefetch_limit = 0;   // per retriever; 0: max(50, 2 * (offset + limit))
  RerankMode rerank = RerankMode::kOff;
  size_t rerank_top = 20;
  bool with_text = true;
  // Dense parameters (Qdrant's `params`).
  size_t hnsw_ef = 0;
  bool exact = false;
  float oversampling = 1.0f;
  // Payload filter, applied by both retrievers (each prefetches only points
  // that pass it).
  std::optional<Filter> filter = {};
};

struct TextSearchResult {
  SearchResponse response;
  bool reranked = false;       // the cross-encoder ran and ordered the page
  bool rerank_skipped = false;  // auto decided it could not change the page
  bool cached = false;          // answered from the result cache (stage times are 0)
  double embed_ms = 0, dense_ms = 0, sparse_ms = 0, fuse_ms = 0, rerank_ms = 0;
};

// `embedder` is needed for dense and hybrid modes, `reranker` for rerank on /
// auto; a missing one is an InvalidArgument naming the flag that supplies it.
//
// With a `cache` (kind kSearchResult enabled), the ranked page (ids, scores,
// flags, query terms) is cached under a key made of the collection's uid and
// version and of everything the ranking depends on: the options, the
// embedder's and reranker's fingerprints and input keys (their token ids),
// the BM25 terms. Any write to the collection changes its version, so an
// older entry is never served. Chunks are read from the collection on a hit.
Result<TextSearchResult> SearchText(const Collection& collection, embed::Embedder* embedder,
                                    embed::Reranker* reranker, const TextSearchOptions& options,
                                    cache::LayeredCache* cache = nullptr);

// The result cache's key and value (exposed for tests).
std::string ResultCacheKey(const Collection& collection, uint64_t version,
                           const embed::Embedder* embedder, const embed::Reranker* reranker,
                           const TextSearchOptions& options);
std::string EncodeCachedResult(const TextSearchResult& result);
bool DecodeCachedResult(std::string_view bytes, TextSearchResult* result);

// The auto-rerank rule above, on the first-stage rankings (exposed for tests).
bool RerankCanChangePage(Mode mode, const std::vector<Scored>& dense,
                         const std::vector<Scored>& sparse, size_t limit);

// Adapts an Embedder to the collection's ChunkEmbedder (document side).
class EmbedderChunkAdapter final : public ChunkEmbedder {
 public:
  explicit EmbedderChunkAdapter(embed::Embedder* embedder) : embedder_(embedder) {}
  Status Embed(const std::vector<const Chunk*>& chunks, const DenseVectorConfig& config,
               std::vector<std::vector<float>>* vectors) override;

 private:
  embed::Embedder* embedder_;
};

}  // namespace quarry::search

#endif  // QUARRY_SEARCH_HYBRID_H_
