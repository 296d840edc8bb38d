// Bm25Index: an in-memory inverted index with BM25 scoring and MaxScore top-k
// retrieval.
//
// Documents are identified by caller-chosen 64-bit point ids and given as
// weighted term frequencies (the caller applies field boosts, e.g. title terms
// counted `title_boost` times) plus a length. Internally each document gets a
// dense 32-bit slot assigned in insertion order, so posting lists stay sorted by
// appending. Postings are grouped in blocks of kBlockSize; each block keeps an
// upper bound of its BM25 term score (from the block's max tf and min length,
// valid whatever the collection statistics become). Search() runs a windowed,
// block-max MaxScore over these bounds to skip documents (and whole windows of
// slots) that cannot enter the top k.
// Remove() tombstones a slot (searches skip it, statistics drop it); when
// tombstones exceed a quarter of the slots the index compacts itself.
//
// The index is derived state: it is rebuilt from storage when its snapshot is
// missing or corrupt. Serialize()/Deserialize() produce/consume the snapshot
// payload (framing, checksum and sequence live in storage/snapshot_file.h).
//
// Scoring is Lucene 8+'s BM25Similarity (what Pyserini uses), over live
// documents only:
//   idf   = ln(1 + (N - df + 0.5) / (df + 0.5))
//   score = sum over query terms of  qtf * idf * tf / (tf + k1 * (1 - b + b * len / avgdl))
// where qtf is how often the term occurs in the query. Unlike Lucene, document
// lengths are exact (Lucene quantises them to one byte).
//
// Search() and SearchExhaustive() compute every score with the same float
// operations in the same order (query terms by weight = count * idf
// descending, ties in first-occurrence order), so they return identical lists.
//
// Thread-safety: const methods may run concurrently with each other; mutating
// methods need exclusive access (the Collection holds a shared_mutex).
// Ownership: a moved-from index may only be destroyed or assigned to.
#ifndef QUARRY_INDEX_SPARSE_BM25_INDEX_H_
#define QUARRY_INDEX_SPARSE_BM25_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quarry/status.h"

namespace quarry::index {

struct Bm25Params {
  float k1 = 0.9f;
  float b = 0.4f;
};

struct ScoredPoint {
  uint64_t point_id = 0;
  float score = 0.0f;
};

struct WeightedTerm {
  std::string term;
  float weight = 1.0f;  // term frequency, possibly boosted
};

// Restricts a search to some documents (payload filters). Both parts are
// optional; a document must pass both.
struct Bm25Filter {
  // Candidate point ids, ascending and unique; null: every document.
  const std::vector<uint64_t>* candidates = nullptr;
  // Asked (at most once per document and search) whether a scored candidate
  // may be returned; Search asks only about those that would enter the top k.
  // Null: every candidate passes.
  const std::function<bool(uint64_t point_id)>* accept = nullptr;
};

struct Bm25Stats {
  uint64_t documents = 0;       // live documents
  uint64_t terms = 0;           // distinct terms in the vocabulary
  uint64_t postings = 0;        // stored postings incl. tombstoned ones
  uint64_t tombstones = 0;
  double average_length = 0.0;  // over live documents
  uint64_t memory_bytes = 0;    // approximate heap use
};

class Bm25Index {
 public:
  static constexpr size_t kBlockSize = 128;
  // Version of the Serialize() payload (also written inside the payload).
  static constexpr uint32_t kFormatVersion = 1;

  explicit Bm25Index(Bm25Params params = {});
  ~Bm25Index();
  Bm25Index(Bm25Index&&) noexcept;
  Bm25Index& operator=(Bm25Index&&) noexcept;

  // Adds a document. Terms may repeat (their weights add up). `length` is the
  // document length used for BM25 length normalisation (> 0).
  // REQUIRES: point_id not present (call Remove first to replace).
  // Defensive behaviour for bad input: a present point_id is replaced; terms
  // whose summed weight is not positive (or NaN) are dropped; a length that is
  // not a positive finite number is replaced by the summed term weights (or 1).
  void Add(uint64_t point_id, const std::vector<WeightedTerm>& terms, float length);
  // Convenience: every term weight 1, length = terms.size().
  void AddTerms(uint64_t point_id, const std::vector<std::string>& terms);
  // Returns false when point_id is not present.
  bool Remove(uint64_t point_id);
  bool Contains(uint64_t point_id) const;

  // Top `k` by BM25 over the query terms (repeated query terms count once per
  // occurrence, like Lucene's BooleanQuery of SHOULD clauses). Sorted by score
  // descending, ties by point id ascending. Uses windowed MaxScore.
  std::vector<ScoredPoint> Search(const std::vector<std::string>& query_terms, size_t k) const;
  // Same ranking, computed by scoring every posting of every query term: the
  // exact reference used by tests and benchmarks.
  std::vector<ScoredPoint> SearchExhaustive(const std::vector<std::string>& query_terms,
                                            size_t k) const;
  // The top `k` among the documents `filter` lets through, ranked and scored
  // exactly as above (same scores, same order). With few candidates for the
  // query's postings they are scored one by one; otherwise MaxScore runs with
  // its threshold taken from allowed documents only.
  std::vector<ScoredPoint> Search(const std::vector<std::string>& query_terms, size_t k,
                                  const Bm25Filter& filter) const;
  std::vector<ScoredPoint> SearchExhaustive(const std::vector<std::string>& query_terms,
                                            size_t k, const Bm25Filter& filter) const;

  Bm25Stats Stats() const;
  const Bm25Params& params() const { return params_; }
  void set_params(Bm25Params params) { params_ = params; }

  // Rebuilds postings without tombstoned slots.
  void Compact();

  // Snapshot payload (little-endian, versioned inside). Deserialize validates
  // everything (never trusts lengths/offsets) and returns Corruption on any
  // inconsistency; it must not crash on arbitrary bytes.
  std::string Serialize() const;
  static Result<Bm25Index> Deserialize(std::string_view bytes);

 private:
  struct Impl;
  Bm25Params params_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quarry::index

#endif  // QUARRY_INDEX_SPARSE_BM25_INDEX_H_
