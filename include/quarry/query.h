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

struct SearchRequest {
  std::string text;   // the query, analysed like the documents
  size_t limit = 10;  // hits to return (chunks)
  size_t offset = 0;  // skip this many hits first (paging)
  // Per-query BM25 parameters; the collection's defaults when unset.
  std::optional<float> k1;
  std::optional<float> b;
  bool with_text = true;  // fill SearchHit::chunk (text and payload)
};

struct SearchResponse {
  std::vector<SearchHit> hits;
  std::vector<std::string> query_terms;  // after analysis
  double took_ms = 0.0;
};

}  // namespace quarry

#endif  // QUARRY_QUERY_H_
