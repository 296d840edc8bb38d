// PayloadIndexes: the in-memory payload indexes of a collection (value ->
// point ids per indexed key), and the planner that turns a filter into the
// candidate points those indexes allow.
//
// Candidates are a superset of the points that pass the filter: every point
// that passes it is among them, and the caller still evaluates the filter on
// each. So an index can never change what a search returns. They come from
// the filter's must conditions (intersected) and, when every one of them
// can be answered, its should conditions (united): match / match any on a
// keyword, integer or bool index, range on an integer or float index, has_id,
// and nested filters by the same rule.
//
// Derived state: built from the stored chunks at open and when an index is
// created, kept current by the collection under its index lock.
//
// Thread-safety: const methods may run concurrently; the rest need exclusive
// access (Collection::Impl::index_mu).
#ifndef QUARRY_COLLECTION_PAYLOAD_INDEX_H_
#define QUARRY_COLLECTION_PAYLOAD_INDEX_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "quarry/collection.h"
#include "quarry/query.h"

namespace quarry {

class PayloadFieldIndex;  // one field's index (payload_index.cc)
struct PayloadFieldIndexDeleter {
  void operator()(PayloadFieldIndex* index) const;
};
using PayloadFieldIndexPtr = std::unique_ptr<PayloadFieldIndex, PayloadFieldIndexDeleter>;

class PayloadIndexes {
 public:
  PayloadIndexes();
  ~PayloadIndexes();
  PayloadIndexes(PayloadIndexes&&) noexcept;
  PayloadIndexes& operator=(PayloadIndexes&&) noexcept;

  // An empty index of `field` (its key path must parse). Built by Add().
  static Result<PayloadFieldIndexPtr> NewField(const std::string& field, PayloadIndexType type);
  // Indexes one point's chunk in `index` (for building a new field).
  static void AddTo(PayloadFieldIndex* index, uint64_t point_id, const Chunk& chunk);

  // Installs `index`, replacing one of the same field.
  void Put(PayloadFieldIndexPtr index);
  bool Drop(const std::string& field);
  bool empty() const { return fields_.empty(); }
  // The indexed fields and their types, by field name.
  std::vector<PayloadIndexInfo> Info() const;
  const PayloadFieldIndex* Find(const std::string& field) const;

  void Add(uint64_t point_id, const Chunk& chunk);
  void Remove(uint64_t point_id);

  // Candidate point ids (ascending, unique) for `filter`; nullopt when no
  // condition of it can be answered by the indexes (every point is a candidate).
  std::optional<std::vector<uint64_t>> Candidates(const Filter& filter) const;

 private:
  std::vector<PayloadFieldIndexPtr> fields_;  // sorted by field name
};

}  // namespace quarry

#endif  // QUARRY_COLLECTION_PAYLOAD_INDEX_H_
