// Search requests and results.
//
// Thread-safety: plain structs.
#ifndef QUARRY_QUERY_H_
#define QUARRY_QUERY_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "quarry/types.h"

namespace quarry {

// ---- Payload filters (Qdrant's filter model) ----
//
// A point's payload is its chunk's fixed fields (doc_id, source, title,
// section, text, chunk_index, begin, end) plus the top-level keys of its
// document's metadata; a fixed field hides a metadata key of the same name.
// A condition's key is a path into that object: "a.b" walks into objects,
// "a[]" takes every element of an array, "a[2]" one element; an array met
// without [] ends the walk (nothing is found there).
//
// Semantics, as Qdrant's:
//   must: every condition holds; should: at least one holds (no constraint
//   when empty); must_not: none holds. A nested Filter is a condition.
//   A field condition holds when any value found at its key matches; an array
//   value matches when any of its elements does; a missing key matches nothing.
//     match value  equal string, integer or bool (the number 1.0 is no integer)
//     match any    equal to one of the values
//     match except a value that is none of them (null and missing never match)
//     match text   a string value that contains the text
//     range        a number within the bounds
//     is_empty     the key is missing, null or []
//     is_null      the key is present and null
//   has_id: the point id is one of the ids.
using MatchValue = std::variant<std::string, int64_t, bool>;

struct RangeBounds {  // absent bounds do not constrain
  std::optional<double> gt = std::nullopt;
  std::optional<double> gte = std::nullopt;
  std::optional<double> lt = std::nullopt;
  std::optional<double> lte = std::nullopt;
};

struct FieldCondition {
  enum class Op { kMatch, kMatchAny, kMatchExcept, kMatchText, kRange, kIsEmpty, kIsNull };
  std::string key;
  Op op = Op::kMatch;
  std::vector<MatchValue> values;  // kMatch: one value; kMatchAny, kMatchExcept: the list
  std::string text;                // kMatchText
  RangeBounds range;               // kRange
};

struct HasIdCondition {
  std::vector<uint64_t> ids;  // point ids
  // UUID point ids (canonical form); the collection resolves them to the ids
  // of the points they name (quarry/points.h).
  std::vector<std::string> uuids = {};
};

struct Condition;

struct Filter {
  std::vector<Condition> must;
  std::vector<Condition> should;
  std::vector<Condition> must_not;
  bool empty() const;  // no condition at all: every point passes
};

struct Condition {
  std::variant<FieldCondition, HasIdCondition, Filter> value;

  static Condition Match(std::string key, MatchValue value) {
    return Field(std::move(key), FieldCondition::Op::kMatch, {std::move(value)});
  }
  static Condition MatchAny(std::string key, std::vector<MatchValue> values) {
    return Field(std::move(key), FieldCondition::Op::kMatchAny, std::move(values));
  }
  static Condition MatchExcept(std::string key, std::vector<MatchValue> values) {
    return Field(std::move(key), FieldCondition::Op::kMatchExcept, std::move(values));
  }
  static Condition MatchText(std::string key, std::string text) {
    Condition c = Field(std::move(key), FieldCondition::Op::kMatchText, {});
    std::get<FieldCondition>(c.value).text = std::move(text);
    return c;
  }
  static Condition Range(std::string key, RangeBounds range) {
    Condition c = Field(std::move(key), FieldCondition::Op::kRange, {});
    std::get<FieldCondition>(c.value).range = range;
    return c;
  }
  static Condition IsEmpty(std::string key) {
    return Field(std::move(key), FieldCondition::Op::kIsEmpty, {});
  }
  static Condition IsNull(std::string key) {
    return Field(std::move(key), FieldCondition::Op::kIsNull, {});
  }
  static Condition HasId(std::vector<uint64_t> ids) { return Condition{HasIdCondition{std::move(ids)}}; }
  static Condition Nested(Filter filter) { return Condition{std::move(filter)}; }

 private:
  static Condition Field(std::string key, FieldCondition::Op op, std::vector<MatchValue> values) {
    FieldCondition field;
    field.key = std::move(key);
    field.op = op;
    field.values = std::move(values);
    return Condition{std::move(field)};
  }
};

inline bool Filter::empty() const { return must.empty() && should.empty() && must_not.empty(); }

// A nearest-neighbour query on one of the collection's named dense vectors.
struct VectorQuery {
  std::string name;
  std::vector<float> values;
};

// A sparse vector (SPLADE and the like): dimension indices and their values.
struct SparseVector {
  std::vector<uint32_t> indices;
  std::vector<float> values;
};

// A query on one of the collection's named sparse vectors: the dot product
// with the stored vectors (times idf per dimension when the vector is
// configured with it).
struct SparseQuery {
  std::string name;
  SparseVector vector;
};

// BM25 over `text`, or, when `vector` is set, nearest neighbours of it, or,
// when `sparse` is set, the best dot products with it.
struct SearchRequest {
  std::string text;   // the query, analysed like the documents
  std::optional<VectorQuery> vector;
  std::optional<SparseQuery> sparse = std::nullopt;
  // When set, only these (internal) point ids are scored, exactly: a
  // rescoring stage over candidates found before (Qdrant's prefetch + query).
  std::optional<std::vector<uint64_t>> among = std::nullopt;
  size_t limit = 10;  // hits to return (chunks)
  size_t offset = 0;  // skip this many hits first (paging)
  bool with_text = true;  // fill SearchHit::chunk (text and payload)
  // Dense search parameters (Qdrant's `params`).
  size_t hnsw_ef = 0;         // 0: the vector's configured ef_search
  bool exact = false;         // exact scan instead of the graph
  bool rescore = true;        // rescore quantised candidates with the originals
  float oversampling = 1.0f;  // fetch limit·oversampling candidates before rescoring
  // Only points whose payload passes it are returned (BM25 and dense alike).
  std::optional<Filter> filter = {};
};

struct SearchResponse {
  std::vector<SearchHit> hits;
  std::vector<std::string> query_terms;  // after analysis
  double took_ms = 0.0;
};

}  // namespace quarry

#endif  // QUARRY_QUERY_H_
