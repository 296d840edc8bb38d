// SparseVectorIndex: an exact in-memory inverted index over caller-supplied
// sparse vectors (SPLADE, miniCOIL, hashed BM25 weights), with Qdrant's
// semantics for sparse vectors.
//
// A point is a caller-chosen 64-bit id with a sparse vector: parallel arrays of
// unique uint32 dimensions and finite float values (negative values allowed,
// zeros dropped). Each point gets a dense 32-bit slot in insertion order; each
// dimension keeps a posting list of (slot, value), 8 bytes a posting, ascending
// by slot. A compact forward index (slot -> its dimensions, delta-varint)
// serves Remove() and SearchExhaustive(). Remove() and replacement tombstone
// the old slot; when tombstones exceed a quarter of the slots the index
// compacts itself.
//
// Scoring is the dot product of the query with each stored vector, exact (no
// pruning). With SparseModifier::kIdf each query value is first multiplied by
//   idf(dim) = ln(1 + (N - n + 0.5) / (n + 0.5))
// over live points only: N points, n of them with a non-zero value in `dim`
// (Qdrant's `modifier: idf`). Only points sharing at least one non-zero
// dimension with the query are returned, whatever their score (0 and negative
// scores included), as Qdrant does. A sum that overflows float may be +-inf or
// NaN; NaN ranks below every other score.
//
// Search() and SearchExhaustive() compute every score with the same float
// operations in the same order (starting from 0, adding weight * value for the
// query dimensions in ascending dimension order), so they return identical
// lists, bit for bit.
//
// The index is derived state: it is rebuilt from storage when its snapshot is
// missing or corrupt. Serialize()/Deserialize() produce/consume the snapshot
// payload (framing, checksum and sequence live in storage/snapshot_file.h).
//
// Thread-safety: const methods may run concurrently with each other; mutating
// methods need exclusive access (the Collection holds a shared_mutex).
// Ownership: the index copies what Add() is given; views are not retained. A
// moved-from index may only be destroyed or assigned to.
#ifndef QUARRY_INDEX_SPARSE_SPARSE_VECTOR_INDEX_H_
#define QUARRY_INDEX_SPARSE_SPARSE_VECTOR_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "index/sparse/bm25_index.h"  // ScoredPoint
#include "quarry/status.h"

namespace quarry::index {

// A borrowed sparse vector: values[i] is the weight of dimension indices[i].
struct SparseVectorView {
  std::span<const uint32_t> indices;
  std::span<const float> values;
};

// Query-time weighting, as Qdrant's SparseVectorParams.modifier.
enum class SparseModifier {
  kNone,  // plain dot product
  kIdf,   // query values multiplied by the live idf of their dimension
};

// Restricts a search to some points (payload filters). Both parts are
// optional; a point must pass both.
struct SparseFilter {
  // Candidate point ids, ascending and unique; null: every point.
  const std::vector<uint64_t>* candidates = nullptr;
  // Asked (at most once per point and search) whether a scored candidate may
  // be returned; Search asks only about those that would enter the top k, best
  // first. Null: every candidate passes.
  const std::function<bool(uint64_t point_id)>* accept = nullptr;
};

struct SparseVectorStats {
  uint64_t points = 0;        // live points (empty vectors included)
  uint64_t dimensions = 0;    // dimensions with a live posting
  uint64_t postings = 0;      // stored postings incl. tombstoned ones
  uint64_t tombstones = 0;    // dead slots not yet compacted away
  uint64_t memory_bytes = 0;  // approximate heap use
};

class SparseVectorIndex {
 public:
  // Most entries (zeros included) one input vector may have, in Add and Search.
  static constexpr size_t kMaxEntries = 65536;
  // Version of the Serialize() payload (also written inside the payload).
  static constexpr uint32_t kFormatVersion = 1;

  explicit SparseVectorIndex(SparseModifier modifier = SparseModifier::kNone);
  ~SparseVectorIndex();
  SparseVectorIndex(SparseVectorIndex&&) noexcept;
  SparseVectorIndex& operator=(SparseVectorIndex&&) noexcept;

  // Adds a point, replacing it when point_id is already present. Zero values
  // are dropped; an empty vector is allowed (the point exists, counts in the
  // idf N, and never matches). InvalidArgument, naming the problem, when
  // indices and values differ in length, a value is not finite, an index is
  // repeated, or there are more than kMaxEntries entries; the index is then
  // unchanged. ResourceExhausted past 2^32 - 2 slots.
  Status Add(uint64_t point_id, SparseVectorView vector);
  // Returns false when point_id is not present.
  bool Remove(uint64_t point_id);
  bool Contains(uint64_t point_id) const;

  // Top `k` points by score among those sharing a non-zero dimension with the
  // query (and passing `filter`), sorted by score descending, ties by point id
  // ascending. The query is validated as in Add (InvalidArgument); its zero
  // values and unknown dimensions are ignored. Scores accumulate term at a time
  // into a dense array over slots (O(slots) scratch per query), or a hash table
  // when the query's postings are fewer than an eighth of the slots; with few
  // filter candidates for the query's postings, candidates are scored one by
  // one (a binary search per candidate and dimension).
  Result<std::vector<ScoredPoint>> Search(SparseVectorView query, size_t k,
                                          const SparseFilter& filter = {}) const;
  // Same ranking, computed by scoring every stored vector: the exact reference
  // used by tests and benchmarks. Asks `accept` about every matching
  // candidate. Returns an empty list for an invalid query.
  std::vector<ScoredPoint> SearchExhaustive(SparseVectorView query, size_t k,
                                            const SparseFilter& filter = {}) const;

  SparseVectorStats Stats() const;
  SparseModifier modifier() const { return modifier_; }

  // Rebuilds postings without tombstoned slots (slots renumbered densely).
  void Compact();

  // Snapshot payload (little-endian, versioned inside; the modifier is part of
  // it). Deserialize validates everything (never trusts lengths/offsets) and
  // returns Corruption on any inconsistency; it must not crash on arbitrary
  // bytes. Only live points are written, in slot order, so for s produced by
  // Serialize, Serialize(Deserialize(s)) == s.
  std::string Serialize() const;
  static Result<SparseVectorIndex> Deserialize(std::string_view bytes);

 private:
  struct Impl;
  SparseModifier modifier_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quarry::index

#endif  // QUARRY_INDEX_SPARSE_SPARSE_VECTOR_INDEX_H_
