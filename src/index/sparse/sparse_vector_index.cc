#include "index/sparse/sparse_vector_index.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <utility>

#include "common/file_util.h"

namespace quarry::index {
namespace {

constexpr uint32_t kEndSlot = std::numeric_limits<uint32_t>::max();
// Slots are uint32 and kEndSlot is reserved as the empty-entry sentinel.
constexpr uint64_t kMaxSlots = uint64_t{kEndSlot} - 1;
constexpr uint32_t kMagic = 0x56505351;  // "QSPV" little-endian
constexpr size_t kMaxEntries = SparseVectorIndex::kMaxEntries;
// Heap bytes of one unordered_map node with a 16-byte-or-smaller value
// (next pointer + value, rounded up to malloc's 32-byte minimum chunk).
constexpr uint64_t kMapNodeBytes = 32;

using Entry = std::pair<uint32_t, float>;  // (dimension, value)

// ---------------------------------------------------------------------------
// Input validation.

// Checks `vector` (see SparseVectorIndex::Add) and returns its non-zero
// entries sorted by dimension. `what` names the vector in messages.
Status Normalize(SparseVectorView vector, std::string_view what, std::vector<Entry>* out) {
  const size_t size = vector.indices.size();
  if (size != vector.values.size()) {
    return Status::InvalidArgument(std::string(what) + ": " + std::to_string(size) +
                                   " indices but " + std::to_string(vector.values.size()) +
                                   " values");
  }
  if (size > kMaxEntries) {
    return Status::InvalidArgument(std::string(what) + ": " + std::to_string(size) +
                                   " entries exceed the limit of " + std::to_string(kMaxEntries));
  }
  out->clear();
  out->reserve(size);
  for (size_t entry_idx = 0; entry_idx < size; ++entry_idx) {
    const float value = vector.values[entry_idx];
    if (!std::isfinite(value)) {
      return Status::InvalidArgument(std::string(what) + ": value of index " +
                                     std::to_string(vector.indices[entry_idx]) + " (position " +
                                     std::to_string(entry_idx) + ") is not finite");
    }
    out->emplace_back(vector.indices[entry_idx], value);
  }
  std::sort(out->begin(), out->end(),
            [](const Entry& lhs, const Entry& rhs) { return lhs.first < rhs.first; });
  for (size_t entry_idx = 1; entry_idx < out->size(); ++entry_idx) {
    if ((*out)[entry_idx].first == (*out)[entry_idx - 1].first) {
      return Status::InvalidArgument(std::string(what) + ": index " +
                                     std::to_string((*out)[entry_idx].first) + " is repeated");
    }
  }
  // Zeros (either sign) carry nothing: Qdrant's dot product ignores them too.
  out->erase(std::remove_if(out->begin(), out->end(),
                            [](const Entry& entry) { return entry.second == 0.0f; }),
             out->end());
  return Status::OK();
}

// ---------------------------------------------------------------------------
// Scoring primitives. The library is built with -ffp-contract=off, so the
// product and the sum below round the same way on every path.

// Qdrant's idf for `modifier: idf`, evaluated as Qdrant does, in f32:
// VectorQueryContext::fancy_idf in lib/segment/src/data_types/query_context.rs
// is `((n - df + 0.5) / (df + 0.5) + 1.).ln()` over DimWeight (f32), with n
// the indexed vector count and df the dimension's posting count; the query
// weight is then multiplied by it (`*weight *= fancy_idf(n, df)`). Here n and
// df count live points only.
float Idf(uint64_t live_points, uint64_t df) {
  const float n = static_cast<float>(live_points);
  const float d = static_cast<float>(df);
  return std::log((n - d + 0.5f) / (d + 0.5f) + 1.0f);
}

// Score descending (NaN below everything), then point id ascending: a strict
// total order over distinct point ids, so every path ranks identically.
inline bool Better(const ScoredPoint& lhs, const ScoredPoint& rhs) {
  const bool lhs_nan = std::isnan(lhs.score);
  const bool rhs_nan = std::isnan(rhs.score);
  if (lhs_nan != rhs_nan) return rhs_nan;
  if (!lhs_nan && lhs.score != rhs.score) return lhs.score > rhs.score;
  return lhs.point_id < rhs.point_id;
}

bool InCandidates(const std::vector<uint64_t>* candidates, uint64_t point_id) {
  return candidates == nullptr ||
         std::binary_search(candidates->begin(), candidates->end(), point_id);
}

// The best `k` of `hits` (distinct point ids), best first. With `accept`, hits
// are taken best first from a heap and `accept` is asked about each until k
// pass: at most once per point, and only about points that would enter.
std::vector<ScoredPoint> SelectTopK(std::vector<ScoredPoint> hits, size_t k,
                                    const std::function<bool(uint64_t)>* accept) {
  if (accept == nullptr) {
    if (hits.size() > k) {
      std::nth_element(hits.begin(), hits.begin() + static_cast<ptrdiff_t>(k), hits.end(), Better);
      hits.resize(k);
    }
    std::sort(hits.begin(), hits.end(), Better);
    return hits;
  }
  auto worse = [](const ScoredPoint& lhs, const ScoredPoint& rhs) { return Better(rhs, lhs); };
  std::make_heap(hits.begin(), hits.end(), worse);  // front = best
  std::vector<ScoredPoint> top;
  top.reserve(std::min(k, hits.size()));
  for (auto end = hits.end(); top.size() < k && end != hits.begin(); --end) {
    std::pop_heap(hits.begin(), end, worse);
    const ScoredPoint& best = *(end - 1);
    if ((*accept)(best.point_id)) top.push_back(best);
  }
  return top;
}

// ---------------------------------------------------------------------------
// Varints for the snapshot payload and the forward index.

void AppendVarint32(std::vector<uint8_t>* out, uint32_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<uint8_t>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<uint8_t>(v));
}

// ---------------------------------------------------------------------------
// Postings.

struct Posting {
  uint32_t slot;
  float value;  // non-zero, finite
};

struct PostingList {
  uint32_t dim = 0;
  uint32_t live_df = 0;           // postings whose slot is live
  std::vector<Posting> postings;  // ascending slot
};

// A query dimension resolved against the index.
struct QueryTerm {
  uint32_t list;  // posting list id
  float weight;   // query value, times idf with kIdf
};

// Open-addressing accumulator slot -> score for queries that touch few slots.
class HashAccumulator {
 public:
  explicit HashAccumulator(size_t expected) {
    size_t capacity = 16;
    int bits = 4;
    while (capacity < expected * 2) {
      capacity *= 2;
      ++bits;
    }
    shift_ = 64 - bits;
    mask_ = capacity - 1;
    table_.assign(capacity, Cell{kEndSlot, 0.0f});
  }

  // The score cell of `slot`, created at 0.
  float& At(uint32_t slot) {
    for (size_t pos = (uint64_t{slot} * 0x9E3779B97F4A7C15ull) >> shift_;;
         pos = (pos + 1) & mask_) {
      Cell& cell = table_[pos];
      if (cell.slot == slot) return cell.score;
      if (cell.slot == kEndSlot) {
        cell.slot = slot;
        return cell.score;
      }
    }
  }

  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const Cell& cell : table_) {
      if (cell.slot != kEndSlot) fn(cell.slot, cell.score);
    }
  }

 private:
  struct Cell {
    uint32_t slot;
    float score;
  };
  std::vector<Cell> table_;  // capacity a power of two, load <= 1/2
  int shift_ = 0;
  size_t mask_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------

struct SparseVectorIndex::Impl {
  std::vector<PostingList> lists;                   // by list id
  std::unordered_map<uint32_t, uint32_t> dim_list;  // dimension -> list id
  std::vector<uint64_t> slot_point;                 // slot -> point id
  std::vector<uint64_t> live_bits;                  // bit per slot; 0 = tombstone
  // Forward index: slot -> its list ids, ascending, delta + varint. Used to
  // update live document frequencies on Remove and by SearchExhaustive.
  std::vector<uint8_t> forward_bytes;
  std::vector<uint64_t> forward_offsets{0};
  std::unordered_map<uint64_t, uint32_t> point_slot;  // live points only

  uint64_t tombstones = 0;
  uint64_t total_postings = 0;
  uint64_t live_dims = 0;  // lists with live_df > 0

  size_t num_slots() const { return slot_point.size(); }
  uint64_t live_points() const { return point_slot.size(); }
  bool IsLive(uint32_t slot) const { return (live_bits[slot >> 6] >> (slot & 63)) & 1; }

  void PushSlot(uint64_t point_id) {
    const uint32_t slot = static_cast<uint32_t>(num_slots());
    if ((slot & 63) == 0) live_bits.push_back(0);
    live_bits[slot >> 6] |= uint64_t{1} << (slot & 63);
    slot_point.push_back(point_id);
  }

  // Validates `query` and returns its known, live dimensions in canonical
  // order (ascending dimension) with their weights. Every score is summed in
  // this order; it depends only on the query, so compaction and snapshots
  // keep it.
  Result<std::vector<QueryTerm>> Resolve(SparseVectorView query, SparseModifier modifier) const {
    std::vector<Entry> entries;
    QUARRY_RETURN_IF_ERROR(Normalize(query, "sparse query", &entries));
    std::vector<QueryTerm> terms;
    terms.reserve(entries.size());
    for (const auto& [dim, value] : entries) {
      auto it = dim_list.find(dim);
      if (it == dim_list.end()) continue;
      const PostingList& list = lists[it->second];
      if (list.live_df == 0) continue;
      const float weight =
          modifier == SparseModifier::kIdf ? value * Idf(live_points(), list.live_df) : value;
      terms.push_back({it->second, weight});
    }
    return terms;
  }

  // Term-at-a-time into a dense accumulator over every slot.
  std::vector<ScoredPoint> AccumulateDense(const std::vector<QueryTerm>& terms,
                                           const std::vector<uint64_t>* candidates) const {
    const size_t slots = num_slots();
    std::vector<float> acc(slots, 0.0f);
    std::vector<uint64_t> seen((slots + 63) / 64, 0);
    for (const QueryTerm& term : terms) {
      const float weight = term.weight;
      for (const Posting& p : lists[term.list].postings) {
        acc[p.slot] += weight * p.value;
        seen[p.slot >> 6] |= uint64_t{1} << (p.slot & 63);
      }
    }
    std::vector<ScoredPoint> hits;
    for (size_t word_idx = 0; word_idx < seen.size(); ++word_idx) {
      uint64_t word = seen[word_idx] & live_bits[word_idx];
      while (word != 0) {
        const uint32_t slot =
            static_cast<uint32_t>(word_idx * 64) + static_cast<uint32_t>(__builtin_ctzll(word));
        word &= word - 1;
        const uint64_t point_id = slot_point[slot];
        if (!InCandidates(candidates, point_id)) continue;
        hits.push_back({point_id, acc[slot]});
      }
    }
    return hits;
  }

  // Term-at-a-time into a hash map (few postings for many slots).
  std::vector<ScoredPoint> AccumulateHashed(const std::vector<QueryTerm>& terms, uint64_t postings,
                                            const std::vector<uint64_t>* candidates) const {
    HashAccumulator acc(static_cast<size_t>(std::min<uint64_t>(postings, num_slots())));
    for (const QueryTerm& term : terms) {
      const float weight = term.weight;
      for (const Posting& p : lists[term.list].postings) acc.At(p.slot) += weight * p.value;
    }
    std::vector<ScoredPoint> hits;
    acc.ForEach([&](uint32_t slot, float score) {
      if (!IsLive(slot)) return;
      const uint64_t point_id = slot_point[slot];
      if (InCandidates(candidates, point_id)) hits.push_back({point_id, score});
    });
    return hits;
  }

  // Value of `slot` in `list`, or nullptr.
  static const Posting* FindPosting(const PostingList& list, uint32_t slot) {
    auto it = std::lower_bound(
        list.postings.begin(), list.postings.end(), slot,
        [](const Posting& posting, uint32_t target) { return posting.slot < target; });
    return it != list.postings.end() && it->slot == slot ? &*it : nullptr;
  }

  // Each candidate scored alone: its postings found by binary search,
  // contributions added in canonical order from 0 as the other paths add them.
  std::vector<ScoredPoint> ScoreCandidates(const std::vector<QueryTerm>& terms,
                                           const std::vector<uint64_t>& candidates) const {
    std::vector<ScoredPoint> hits;
    for (uint64_t point_id : candidates) {
      auto it = point_slot.find(point_id);
      if (it == point_slot.end()) continue;
      const uint32_t slot = it->second;
      float score = 0.0f;
      bool matched = false;
      for (const QueryTerm& term : terms) {
        const Posting* p = FindPosting(lists[term.list], slot);
        if (p == nullptr) continue;
        score += term.weight * p->value;
        matched = true;
      }
      if (matched) hits.push_back({point_id, score});
    }
    return hits;
  }

  template <typename Fn>
  void ForEachForwardList(uint32_t slot, Fn&& fn) const {
    const uint8_t* p = forward_bytes.data() + forward_offsets[slot];
    const uint8_t* end = forward_bytes.data() + forward_offsets[slot + 1];
    uint32_t list = 0;
    bool first = true;
    while (p < end) {
      uint32_t delta = 0;
      for (int shift = 0;; shift += 7) {
        const uint8_t b = *p++;
        delta |= uint32_t{b & 0x7Fu} << shift;
        if ((b & 0x80) == 0) break;
      }
      list = first ? delta : list + delta;
      first = false;
      fn(list);
    }
  }

  // REQUIRES: sorted_lists ascending.
  void AppendForward(const std::vector<uint32_t>& sorted_lists) {
    for (size_t idx = 0; idx < sorted_lists.size(); ++idx) {
      AppendVarint32(&forward_bytes,
                     idx == 0 ? sorted_lists[idx] : sorted_lists[idx] - sorted_lists[idx - 1]);
    }
    forward_offsets.push_back(forward_bytes.size());
  }

  // Rebuilds the forward index from the posting lists (list ids ascending).
  void RebuildForward() {
    const size_t slots = num_slots();
    std::vector<uint64_t> start(slots + 1, 0);
    for (const PostingList& list : lists) {
      for (const Posting& p : list.postings) ++start[p.slot + 1];
    }
    for (size_t s = 0; s < slots; ++s) start[s + 1] += start[s];
    std::vector<uint32_t> slot_lists(start[slots]);
    std::vector<uint64_t> fill(start.begin(), start.end() - 1);
    for (uint32_t list = 0; list < lists.size(); ++list) {
      for (const Posting& p : lists[list].postings) slot_lists[fill[p.slot]++] = list;
    }
    forward_bytes.clear();
    forward_offsets.assign(1, 0);
    forward_offsets.reserve(slots + 1);
    for (size_t s = 0; s < slots; ++s) {
      for (uint64_t i = start[s]; i < start[s + 1]; ++i) {
        AppendVarint32(&forward_bytes,
                       i == start[s] ? slot_lists[i] : slot_lists[i] - slot_lists[i - 1]);
      }
      forward_offsets.push_back(forward_bytes.size());
    }
    forward_bytes.shrink_to_fit();
  }

  void RebuildDimMap() {
    dim_list.clear();
    dim_list.reserve(lists.size());
    for (uint32_t list = 0; list < lists.size(); ++list) dim_list.emplace(lists[list].dim, list);
  }
};

// ---------------------------------------------------------------------------

SparseVectorIndex::SparseVectorIndex(SparseModifier modifier)
    : modifier_(modifier), impl_(std::make_unique<Impl>()) {}
SparseVectorIndex::~SparseVectorIndex() = default;
SparseVectorIndex::SparseVectorIndex(SparseVectorIndex&&) noexcept = default;
SparseVectorIndex& SparseVectorIndex::operator=(SparseVectorIndex&&) noexcept = default;

Status SparseVectorIndex::Add(uint64_t point_id, SparseVectorView vector) {
  std::vector<Entry> entries;
  QUARRY_RETURN_IF_ERROR(Normalize(vector, "sparse vector", &entries));
  Impl& impl = *impl_;
  const bool present = impl.point_slot.count(point_id) != 0;
  if (impl.num_slots() >= kMaxSlots) Compact();
  if (impl.num_slots() >= kMaxSlots && !present) {
    return Status::ResourceExhausted("sparse vector index: more than " + std::to_string(kMaxSlots) +
                                     " points");
  }
  if (present) Remove(point_id);
  if (impl.num_slots() >= kMaxSlots) Compact();

  const uint32_t slot = static_cast<uint32_t>(impl.num_slots());
  std::vector<uint32_t> slot_lists;
  slot_lists.reserve(entries.size());
  for (const auto& [dim, value] : entries) {
    auto [it, inserted] = impl.dim_list.try_emplace(dim, static_cast<uint32_t>(impl.lists.size()));
    if (inserted) impl.lists.emplace_back().dim = dim;
    PostingList& list = impl.lists[it->second];
    list.postings.push_back({slot, value});
    if (list.live_df++ == 0) ++impl.live_dims;
    slot_lists.push_back(it->second);
  }
  impl.total_postings += entries.size();
  std::sort(slot_lists.begin(), slot_lists.end());
  impl.AppendForward(slot_lists);
  impl.PushSlot(point_id);
  impl.point_slot.emplace(point_id, slot);
  return Status::OK();
}

bool SparseVectorIndex::Remove(uint64_t point_id) {
  Impl& impl = *impl_;
  auto it = impl.point_slot.find(point_id);
  if (it == impl.point_slot.end()) return false;
  const uint32_t slot = it->second;
  impl.point_slot.erase(it);
  impl.ForEachForwardList(slot, [&impl](uint32_t list) {
    if (--impl.lists[list].live_df == 0) --impl.live_dims;
  });
  impl.live_bits[slot >> 6] &= ~(uint64_t{1} << (slot & 63));
  ++impl.tombstones;
  if (impl.tombstones * 4 > impl.num_slots()) Compact();
  return true;
}

bool SparseVectorIndex::Contains(uint64_t point_id) const {
  return impl_->point_slot.count(point_id) != 0;
}

Result<std::vector<ScoredPoint>> SparseVectorIndex::Search(SparseVectorView query, size_t k,
                                                           const SparseFilter& filter) const {
  const Impl& impl = *impl_;
  std::vector<QueryTerm> terms;
  QUARRY_ASSIGN_OR_RETURN(terms, impl.Resolve(query, modifier_));
  if (k == 0 || terms.empty()) return std::vector<ScoredPoint>{};
  const std::vector<uint64_t>* candidates = filter.candidates;
  if (candidates != nullptr && candidates->empty()) return std::vector<ScoredPoint>{};

  uint64_t postings = 0;
  for (const QueryTerm& term : terms) postings += impl.lists[term.list].postings.size();
  std::vector<ScoredPoint> hits;
  if (candidates != nullptr && candidates->size() * terms.size() * 4 <= postings) {
    // A binary search per candidate and term costs less than every posting.
    hits = impl.ScoreCandidates(terms, *candidates);
  } else if (postings * 8 >= impl.num_slots()) {
    hits = impl.AccumulateDense(terms, candidates);
  } else {
    hits = impl.AccumulateHashed(terms, postings, candidates);
  }
  return SelectTopK(std::move(hits), k, filter.accept);
}

std::vector<ScoredPoint> SparseVectorIndex::SearchExhaustive(SparseVectorView query, size_t k,
                                                             const SparseFilter& filter) const {
  const Impl& impl = *impl_;
  auto resolved = impl.Resolve(query, modifier_);
  if (!resolved.ok() || k == 0) return {};
  const std::vector<QueryTerm>& terms = *resolved;
  std::vector<ScoredPoint> hits;
  std::vector<uint32_t> slot_lists;
  for (uint32_t slot = 0; slot < impl.num_slots(); ++slot) {
    if (!impl.IsLive(slot)) continue;
    slot_lists.clear();
    impl.ForEachForwardList(slot, [&slot_lists](uint32_t list) { slot_lists.push_back(list); });
    float score = 0.0f;
    bool matched = false;
    for (const QueryTerm& term : terms) {
      if (!std::binary_search(slot_lists.begin(), slot_lists.end(), term.list)) continue;
      const Posting* p = Impl::FindPosting(impl.lists[term.list], slot);
      if (p == nullptr) continue;  // unreachable: the forward index lists it
      score += term.weight * p->value;
      matched = true;
    }
    if (!matched) continue;
    const uint64_t point_id = impl.slot_point[slot];
    if (!InCandidates(filter.candidates, point_id)) continue;
    if (filter.accept != nullptr && !(*filter.accept)(point_id)) continue;
    hits.push_back({point_id, score});
  }
  std::sort(hits.begin(), hits.end(), Better);
  if (hits.size() > k) hits.resize(k);
  return hits;
}

SparseVectorStats SparseVectorIndex::Stats() const {
  const Impl& impl = *impl_;
  SparseVectorStats stats;
  stats.points = impl.live_points();
  stats.dimensions = impl.live_dims;
  stats.postings = impl.total_postings;
  stats.tombstones = impl.tombstones;
  uint64_t bytes = sizeof(Impl);
  bytes += impl.lists.capacity() * sizeof(PostingList);
  for (const PostingList& list : impl.lists) bytes += list.postings.capacity() * sizeof(Posting);
  bytes += impl.slot_point.capacity() * sizeof(uint64_t);
  bytes += impl.live_bits.capacity() * sizeof(uint64_t);
  bytes += impl.forward_bytes.capacity() + impl.forward_offsets.capacity() * sizeof(uint64_t);
  // unordered_map: one node per entry plus the bucket array.
  bytes += impl.dim_list.size() * kMapNodeBytes + impl.dim_list.bucket_count() * sizeof(void*);
  bytes += impl.point_slot.size() * kMapNodeBytes + impl.point_slot.bucket_count() * sizeof(void*);
  stats.memory_bytes = bytes;
  return stats;
}

void SparseVectorIndex::Compact() {
  Impl& impl = *impl_;
  if (impl.tombstones == 0) return;
  const size_t old_slots = impl.num_slots();
  std::vector<uint32_t> remap(old_slots, kEndSlot);
  std::vector<uint64_t> slot_point;
  slot_point.reserve(impl.live_points());
  for (uint32_t slot = 0; slot < old_slots; ++slot) {
    if (!impl.IsLive(slot)) continue;
    remap[slot] = static_cast<uint32_t>(slot_point.size());
    slot_point.push_back(impl.slot_point[slot]);
  }
  const size_t new_slots = slot_point.size();
  impl.slot_point = std::move(slot_point);
  impl.live_bits.assign((new_slots + 63) / 64, ~uint64_t{0});
  impl.live_bits.shrink_to_fit();
  if (new_slots % 64 != 0) impl.live_bits.back() = (uint64_t{1} << (new_slots % 64)) - 1;

  std::vector<PostingList> lists;
  lists.reserve(impl.live_dims);
  uint64_t total_postings = 0;
  for (const PostingList& old_list : impl.lists) {
    if (old_list.live_df == 0) continue;
    PostingList& list = lists.emplace_back();
    list.dim = old_list.dim;
    list.postings.reserve(old_list.live_df);
    for (const Posting& p : old_list.postings) {
      const uint32_t slot = remap[p.slot];
      if (slot != kEndSlot) list.postings.push_back({slot, p.value});
    }
    list.live_df = static_cast<uint32_t>(list.postings.size());
    total_postings += list.postings.size();
  }
  impl.lists = std::move(lists);
  impl.total_postings = total_postings;
  impl.live_dims = impl.lists.size();
  impl.tombstones = 0;
  impl.RebuildDimMap();
  impl.RebuildForward();
  impl.point_slot.clear();
  impl.point_slot.reserve(new_slots);
  for (uint32_t slot = 0; slot < new_slots; ++slot) {
    impl.point_slot.emplace(impl.slot_point[slot], slot);
  }
}

// Payload format (version 1), little-endian; varint = LEB128:
//   magic u32 "QSPV" | version u32 | modifier u8 (0 none, 1 idf)
//   num_points varint, then per point (slot order): point_id varint
//   num_dims varint, then per dimension, ascending:
//     dim gap varint (first: dim; then dim - previous - 1) | count varint (>= 1)
//     count postings: slot gap varint (first: slot; then slot - previous - 1) | value f32
// Values are finite and non-zero; a point has at most kMaxEntries postings.
// Only live points are written (slots renumbered densely), so a deserialized
// index has no tombstones. No checksum: the snapshot framing carries one.
std::string SparseVectorIndex::Serialize() const {
  const Impl& impl = *impl_;
  std::string out;
  out.reserve(16 + impl.live_points() * 4 + impl.total_postings * 6);
  PutFixed32(&out, kMagic);
  PutFixed32(&out, kFormatVersion);
  out.push_back(static_cast<char>(modifier_ == SparseModifier::kIdf ? 1 : 0));

  std::vector<uint32_t> remap(impl.num_slots(), kEndSlot);
  PutVarint64(&out, impl.live_points());
  uint32_t next_slot = 0;
  for (uint32_t slot = 0; slot < impl.num_slots(); ++slot) {
    if (!impl.IsLive(slot)) continue;
    remap[slot] = next_slot++;
    PutVarint64(&out, impl.slot_point[slot]);
  }

  std::vector<uint32_t> order;
  order.reserve(impl.live_dims);
  for (uint32_t list = 0; list < impl.lists.size(); ++list) {
    if (impl.lists[list].live_df > 0) order.push_back(list);
  }
  std::sort(order.begin(), order.end(), [&impl](uint32_t lhs, uint32_t rhs) {
    return impl.lists[lhs].dim < impl.lists[rhs].dim;
  });
  PutVarint64(&out, order.size());
  uint64_t next_dim = 0;  // previous dim + 1
  for (uint32_t list_id : order) {
    const PostingList& list = impl.lists[list_id];
    PutVarint64(&out, list.dim - next_dim);
    next_dim = uint64_t{list.dim} + 1;
    PutVarint64(&out, list.live_df);
    uint64_t next_expected = 0;  // previous slot + 1
    for (const Posting& p : list.postings) {
      const uint32_t slot = remap[p.slot];
      if (slot == kEndSlot) continue;
      PutVarint64(&out, slot - next_expected);
      next_expected = uint64_t{slot} + 1;
      PutFloat(&out, p.value);
    }
  }
  return out;
}

Result<SparseVectorIndex> SparseVectorIndex::Deserialize(std::string_view bytes) {
  auto corrupt = [](const std::string& what) {
    return Status::Corruption("sparse vector index snapshot: " + what);
  };
  ByteReader reader(bytes);
  uint32_t magic = 0;
  uint32_t version = 0;
  if (!reader.ReadFixed32(&magic) || magic != kMagic) return corrupt("bad magic");
  if (!reader.ReadFixed32(&version)) return corrupt("truncated header");
  if (version != kFormatVersion) {
    return corrupt("unsupported format version " + std::to_string(version) + " (expected " +
                   std::to_string(kFormatVersion) + ")");
  }
  std::string_view modifier_byte;
  if (!reader.ReadBytes(1, &modifier_byte)) return corrupt("truncated header");
  const unsigned char modifier_code = static_cast<unsigned char>(modifier_byte[0]);
  if (modifier_code > 1) return corrupt("unknown modifier " + std::to_string(modifier_code));

  SparseVectorIndex index(modifier_code == 1 ? SparseModifier::kIdf : SparseModifier::kNone);
  Impl& impl = *index.impl_;

  uint64_t num_points = 0;
  if (!GetVarint64(&reader, &num_points)) return corrupt("truncated point count");
  // Each point id takes at least one byte.
  if (num_points > reader.remaining() || num_points > kMaxSlots) {
    return corrupt("point count " + std::to_string(num_points) + " exceeds the payload");
  }
  impl.slot_point.reserve(num_points);
  impl.point_slot.reserve(num_points);
  for (uint64_t point_idx = 0; point_idx < num_points; ++point_idx) {
    uint64_t point_id = 0;
    if (!GetVarint64(&reader, &point_id)) {
      return corrupt("truncated or malformed point " + std::to_string(point_idx));
    }
    if (!impl.point_slot.emplace(point_id, static_cast<uint32_t>(point_idx)).second) {
      return corrupt("duplicate point id " + std::to_string(point_id));
    }
    impl.PushSlot(point_id);
  }

  uint64_t num_dims = 0;
  if (!GetVarint64(&reader, &num_dims)) return corrupt("truncated dimension count");
  // Each dimension takes at least seven bytes (gap, count, one posting of 5).
  if (num_dims > reader.remaining() / 7) {
    return corrupt("dimension count " + std::to_string(num_dims) + " exceeds the payload");
  }
  std::vector<uint32_t> entries_per_slot(num_points, 0);
  impl.lists.reserve(num_dims);
  uint64_t next_dim = 0;
  for (uint64_t dim_idx = 0; dim_idx < num_dims; ++dim_idx) {
    uint64_t gap = 0;
    uint64_t count = 0;
    if (!GetVarint64(&reader, &gap) || !GetVarint64(&reader, &count)) {
      return corrupt("truncated dimension " + std::to_string(dim_idx));
    }
    if (gap > uint64_t{kEndSlot} - next_dim) {
      return corrupt("dimension out of range at entry " + std::to_string(dim_idx));
    }
    const uint32_t dim = static_cast<uint32_t>(next_dim + gap);
    next_dim = uint64_t{dim} + 1;
    if (count == 0 || count > num_points || count > reader.remaining() / 5) {
      return corrupt("invalid posting count " + std::to_string(count) + " of dimension " +
                     std::to_string(dim));
    }
    PostingList& list = impl.lists.emplace_back();
    list.dim = dim;
    list.postings.reserve(count);
    uint64_t next_expected = 0;
    for (uint64_t posting_idx = 0; posting_idx < count; ++posting_idx) {
      uint64_t slot_gap = 0;
      float value = 0.0f;
      if (!GetVarint64(&reader, &slot_gap) || !reader.ReadFloat(&value)) {
        return corrupt("truncated posting of dimension " + std::to_string(dim));
      }
      // next_expected <= num_points holds: it is a valid slot + 1.
      if (slot_gap >= num_points - next_expected) {
        return corrupt("posting slot out of range in dimension " + std::to_string(dim));
      }
      if (!std::isfinite(value) || value == 0.0f) {
        return corrupt("invalid value in dimension " + std::to_string(dim));
      }
      const uint32_t slot = static_cast<uint32_t>(next_expected + slot_gap);
      if (++entries_per_slot[slot] > kMaxEntries) {
        return corrupt("point " + std::to_string(impl.slot_point[slot]) + " has more than " +
                       std::to_string(kMaxEntries) + " entries");
      }
      list.postings.push_back({slot, value});
      next_expected = uint64_t{slot} + 1;
    }
    list.live_df = static_cast<uint32_t>(count);
    impl.total_postings += count;
  }
  if (reader.remaining() != 0) {
    return corrupt(std::to_string(reader.remaining()) + " trailing bytes");
  }
  impl.live_dims = impl.lists.size();
  impl.RebuildDimMap();
  impl.RebuildForward();
  return index;
}

}  // namespace quarry::index
