// The Query API (Qdrant's POST /points/query): a tree of prefetches, each a
// search of its own, whose results a final stage fuses (RRF, DBSF) or
// rescores (a nearest-neighbour query over the prefetched candidates only).
//
// Semantics, as Qdrant's:
//   - A node without prefetches searches the collection: a dense vector, a
//     sparse vector, a stored point's vector (by id; the point itself is left
//     out), or a text (embedded with the model of the vector it is `using`,
//     or, with model "bm25", searched with BM25). With no query at all it
//     lists the points (that pass the filter) in id order, score 0.
//   - A node with prefetches runs them first (each with its own limit and
//     filter; the node's filter applies to them too), then
//       fusion rrf / dbsf: fuses their lists (search/fusion.h);
//       a vector or text query: scores exactly the union of their candidates;
//       rerank (Quarry's own, {"rerank": {"text", "model"}}): a cross-encoder
//         scores each candidate's text against `text`, in one batch; the
//         score is the model's logit; candidates without text are left out;
//       no query: a single prefetch's list as it is.
//   - score_threshold drops results below it (for Euclid vectors: results
//     whose distance is above it); limit and offset page the final list.
// Defaults: limit 10, offset 0, RRF k = 2 (Qdrant's), equal weights,
// hnsw_ef = the vector's ef_search, rescore on, oversampling 1.
//
// Scores are the similarity each stage ranks by (cosine, dot, -L2² for
// Euclid; BM25; sparse dot product; fused scores). The `euclid` flag of the
// result says the final stage ranked by -L2²: Qdrant reports the distance.
//
// Thread-safety: as the collection and embedders (thread-safe).
#ifndef QUARRY_SEARCH_POINTS_QUERY_H_
#define QUARRY_SEARCH_POINTS_QUERY_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "embed/embedder.h"
#include "quarry/collection.h"
#include "search/fusion.h"

namespace quarry::search {

struct PointQuery {
  enum class Kind { kNone, kDense, kSparse, kText, kFusionRrf, kFusionDbsf, kPointId, kRerank };
  Kind kind = Kind::kNone;
  std::string using_name;       // the named vector; empty: the collection's only dense one
  std::vector<float> dense;     // kDense
  SparseVector sparse;          // kSparse
  std::string text;             // kText; kRerank: the query the cross-encoder reads
  std::string model;            // kText: "bm25" for BM25; else an embedding model id ("" = the vector's);
                                // kRerank: a reranker id ("" = the default)
  PointId point;                // kPointId: the stored vector of this point is the query
  int rrf_k = kDefaultRrfK;     // kFusionRrf
  std::vector<float> weights;   // kFusionRrf, kFusionDbsf: per prefetch
  std::vector<PointQuery> prefetch;
  std::optional<Filter> filter;
  std::optional<float> score_threshold;
  size_t limit = 10;
  size_t offset = 0;  // the root's only
  size_t hnsw_ef = 0;
  bool exact = false;
  bool rescore = true;
  float oversampling = 1.0f;
};

struct PointQueryResult {
  std::vector<Scored> points;  // internal point ids, best first
  bool euclid = false;         // the scores are -L2²
};

// Finds the embedder for a text query on dense vector `vector_name`, named
// `model` ("" = the vector's default); InvalidArgument when there is none.
using EmbedderLookup =
    std::function<Result<embed::Embedder*>(const std::string& vector_name, const std::string& model)>;

// Finds the cross-encoder `model` ("" = the default); InvalidArgument when none.
using RerankerLookup = std::function<Result<embed::Reranker*>(const std::string& model)>;

Result<PointQueryResult> RunPointQuery(const Collection& collection, const PointQuery& query,
                                       const EmbedderLookup& embedders,
                                       const RerankerLookup& rerankers = nullptr);

}  // namespace quarry::search

#endif  // QUARRY_SEARCH_POINTS_QUERY_H_
