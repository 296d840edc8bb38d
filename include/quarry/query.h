// Search requests and results.
//
// Thread-safety: plain structs.
#ifndef QUARRY_QUERY_H_
#define QUARRY_QUERY_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "quarry/types.h"

namespace quarry {

// A nearest-neighbour query on one of the collection's named dense vectors.
struct VectorQuery {
  std::string name;
  std::vector<float> values;
};

// BM25 over `text`, or, when `vector` is set, nearest neighbours of it.
struct SearchRequest {
  std::string text;   // the query, analysed like the documents
  std::optional<VectorQuery> vector;
  size_t limit = 10;  // hits to return (chunks)
  size_t offset = 0;  // skip this many hits first (paging)
  bool with_text = true;  // fill SearchHit::chunk (text and payload)
  // Dense search parameters (Qdrant's `params`).
  size_t hnsw_ef = 0;         // 0: the vector's configured ef_search
  bool exact = false;         // exact scan instead of the graph
  bool rescore = true;        // rescore quantised candidates with the originals
  float oversampling = 1.0f;  // fetch limit·oversampling candidates before rescoring
};

struct SearchResponse {
  std::vector<SearchHit> hits;
  std::vector<std::string> query_terms;  // after analysis
  double took_ms = 0.0;
};

}  // namespace quarry

#endif  // QUARRY_QUERY_H_
