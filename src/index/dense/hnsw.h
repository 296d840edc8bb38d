// HnswGraph: a Hierarchical Navigable Small World graph (Malkov & Yashunin,
// 2016) over dense 32-bit slots. The graph knows nothing about vectors: every
// distance comes from a caller-supplied "space" (DESIGN.md habit 3), a small
// non-virtual type passed by template parameter so that the distance call
// inlines (the space itself may make one indirect call into a codec).
//
// Spaces. A search space answers distances from one query:
//
//   struct QuerySpace {
//     float operator()(uint32_t slot) const;  // distance query -> slot
//     void Prefetch(uint32_t slot) const;     // hint: slot's code is next
//   };
//
// An insert space additionally answers distances between two stored slots
// (for the neighbour-selection heuristic and for shrinking full link lists):
//
//   float Between(uint32_t a, uint32_t b) const;
//
// Distances are "smaller is closer"; any real value (negative too) is fine.
//
// Layout. Layer-0 links live in one flat array, `capacity * (2M + 1)` uint32s:
// for slot s, word s*(2M+1) is the link count, then up to 2M neighbour slots.
// Layers >= 1 (about 1/M of the nodes) live in one heap block per node,
// `level * (M + 1)` uint32s, the same count-first layout per layer.
//
// Tombstones. MarkDeleted(slot) keeps the node in the graph: searches walk
// through it but never return it, and inserts never link to it. RepairDeleted
// relinks live nodes that point at deleted ones (candidates: the deleted
// node's live neighbours, two hops out, then a beam search when too few), so
// that no live node keeps an edge to a deleted one; Remap then drops the
// deleted slots and renumbers the rest (Compact).
//
// Thread-safety: Insert, Search, SearchKnn and MarkDeleted may run
// concurrently from any number of threads. Link lists are guarded by striped
// mutexes for writers only; readers load the count and the links with acquire
// loads (plain moves on x86), so a reader sees either the old or the new link
// at each position, each a valid, fully inserted slot. At most one link-list
// lock is held at a time (no lock ordering, no deadlock). The entry point is
// an atomic changed under `entry_mu_`; an insert that raises the top level
// holds that mutex for its whole duration (as hnswlib does).
// Reserve, RepairDeleted, Remap, Serialize and Deserialize need exclusive
// access (no concurrent calls of any kind); the owner (DenseIndex) provides
// it.
//
// Ownership: the graph owns its link arrays; it holds no pointers into the
// caller's data.
#ifndef QUARRY_INDEX_DENSE_HNSW_H_
#define QUARRY_INDEX_DENSE_HNSW_H_

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/hash.h"
#include "quarry/status.h"

namespace quarry::index::dense {

inline constexpr uint32_t kInvalidSlot = 0xFFFFFFFFu;

struct HnswGraphOptions {
  uint32_t m = 16;  // links per node on layers >= 1; 2m on layer 0
  uint32_t ef_construction = 128;
  uint64_t seed = 42;  // level draws are a hash of (seed, slot): reproducible
};

struct Neighbor {
  float distance = 0.0f;
  uint32_t slot = kInvalidSlot;
};
inline bool operator<(const Neighbor& a, const Neighbor& b) {
  return a.distance < b.distance || (a.distance == b.distance && a.slot < b.slot);
}

namespace hnsw_internal {

// Acquire/release accessors for link words (TSan-visible, free on x86).
inline uint32_t LoadLink(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
inline void StoreLink(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

// An epoch-stamped visited set: Reset() is O(1) except once every 65535 uses.
class VisitedList {
 public:
  void Prepare(size_t capacity) {
    if (marks_.size() < capacity) marks_.resize(capacity, 0);
    if (++epoch_ == 0) {
      std::fill(marks_.begin(), marks_.end(), uint16_t{0});
      epoch_ = 1;
    }
  }
  // Returns true when `slot` was already visited; marks it otherwise.
  bool TestAndSet(uint32_t slot) {
    if (marks_[slot] == epoch_) return true;
    marks_[slot] = epoch_;
    return false;
  }
  void PrefetchMark(uint32_t slot) const { __builtin_prefetch(marks_.data() + slot); }
  size_t bytes() const { return marks_.capacity() * sizeof(uint16_t); }

  // Scratch space reused by the search that borrows this list.
  std::vector<Neighbor> candidates;
  std::vector<Neighbor> results;

 private:
  std::vector<uint16_t> marks_;
  uint16_t epoch_ = 0;
};

// A pool of visited lists, one borrowed per running search or insert.
class VisitedPool {
 public:
  std::unique_ptr<VisitedList> Acquire() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return std::make_unique<VisitedList>();
    auto list = std::move(free_.back());
    free_.pop_back();
    return list;
  }
  void Release(std::unique_ptr<VisitedList> list) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(list));
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    free_.clear();
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<VisitedList>> free_;
};

// Heap orders compare distances only (ties in any order); final lists are
// sorted with the full (distance, slot) order so results are deterministic.
struct FartherFirst {  // max-heap by distance
  bool operator()(const Neighbor& a, const Neighbor& b) const { return a.distance < b.distance; }
};
struct CloserFirst {  // min-heap by distance
  bool operator()(const Neighbor& a, const Neighbor& b) const { return a.distance > b.distance; }
};

}  // namespace hnsw_internal

class HnswGraph {
 public:
  // An empty graph able to hold `capacity` slots (grow with Reserve).
  // REQUIRES: options.m >= 2.
  HnswGraph(const HnswGraphOptions& options, size_t capacity);
  HnswGraph(const HnswGraph&) = delete;
  HnswGraph& operator=(const HnswGraph&) = delete;

  const HnswGraphOptions& options() const { return options_; }
  size_t capacity() const { return capacity_; }
  // Nodes inserted so far (including tombstoned ones).
  size_t size() const { return inserted_.load(std::memory_order_relaxed); }
  // Slots tombstoned (inserted or not).
  size_t deleted_count() const { return deleted_count_.load(std::memory_order_relaxed); }
  uint32_t entry_point() const { return entry_point_.load(std::memory_order_acquire); }
  // -1 when `slot` has not been inserted.
  int level(uint32_t slot) const { return levels_[slot]; }
  bool contains(uint32_t slot) const { return slot < capacity_ && levels_[slot] >= 0; }
  bool IsDeleted(uint32_t slot) const {
    return __atomic_load_n(&deleted_[slot], __ATOMIC_RELAXED) != 0;
  }
  // Bytes of link storage (layer 0 + upper layers + per-slot bookkeeping).
  size_t MemoryBytes() const;

  // Grows the slot capacity (never shrinks). Exclusive access.
  void Reserve(size_t capacity);

  // The level a new node at `slot` gets: floor(-ln(U) / ln(M)), U a hash of
  // (seed, slot) in (0, 1], capped at kMaxLevel.
  int DrawLevel(uint32_t slot) const;

  // Links `slot` into the graph. REQUIRES: slot < capacity(), not inserted
  // yet, and space answers distances for it (its code written).
  template <typename Space>
  void Insert(uint32_t slot, const Space& space);

  // Tombstones `slot`: still traversed, never returned nor linked to again.
  // Returns false when it already was deleted.
  bool MarkDeleted(uint32_t slot);

  // The up-to-k closest accepted, non-deleted slots, closest first, found by a
  // beam search of width max(ef, k) on layer 0. `accept(slot)` is called only
  // for non-deleted slots; rejected ones are still walked through.
  template <typename Space, typename Accept>
  void Search(const Space& space, size_t k, size_t ef, const Accept& accept,
              std::vector<Neighbor>* out) const;
  template <typename Space>
  void Search(const Space& space, size_t k, size_t ef, std::vector<Neighbor>* out) const {
    Search(
        space, k, ef, [](uint32_t) { return true; }, out);
  }

  // Relinks every live node that points at a deleted node (see the file
  // comment). `between(a, b)` is the distance between two stored slots.
  // Afterwards no live node links to a deleted node and the entry point is
  // live (or kInvalidSlot when nothing is live). Exclusive access.
  template <typename Between>
  void RepairDeleted(const Between& between);

  // Renumbers slots: old slot s becomes old_to_new[s], or disappears when that
  // is kInvalidSlot. REQUIRES: RepairDeleted ran (no live node links to a
  // dropped one); old_to_new.size() >= capacity() or covers every inserted
  // slot; new slots are distinct and < new_capacity. Exclusive access.
  void Remap(std::span<const uint32_t> old_to_new, size_t new_capacity);

  // Compact serialisation (all little-endian): a header, the levels, the
  // deleted flags, the layer-0 array as stored, then the upper-layer blocks
  // of nodes with level > 0 in slot order. Deserialize validates every field
  // and every link (InvalidArgument/Corruption, never a crash); the layer-0
  // array is copied in one piece. `slots` = the capacity to serialise.
  void Serialize(size_t slots, std::string* out) const;
  static Result<std::unique_ptr<HnswGraph>> Deserialize(std::string_view bytes, size_t capacity);

  static constexpr int kMaxLevel = 16;

 private:
  using VisitedList = hnsw_internal::VisitedList;
  using CandidateHeap = std::vector<Neighbor>;  // used with std::push_heap

  uint32_t MaxLinks(int layer) const { return layer == 0 ? max_links0_ : max_links_; }
  uint32_t* Links(uint32_t slot, int layer) {
    if (layer == 0) return level0_.get() + static_cast<size_t>(slot) * level0_stride_;
    return upper_[slot].get() + static_cast<size_t>(layer - 1) * (max_links_ + 1);
  }
  const uint32_t* Links(uint32_t slot, int layer) const {
    return const_cast<HnswGraph*>(this)->Links(slot, layer);
  }
  std::mutex& LockFor(uint32_t slot) const { return link_locks_[slot & (kLockStripes - 1)]; }

  // Copies the links of (slot, layer) into `out` (size = count).
  void ReadLinks(uint32_t slot, int layer, std::vector<uint32_t>* out) const;
  // Replaces the links of (slot, layer). Caller holds LockFor(slot) or has
  // exclusive access.
  void WriteLinks(uint32_t slot, int layer, std::span<const uint32_t> links);

  // Greedy descent from (cur, cur_dist) down to layer `stop_layer` + 1.
  template <typename Space>
  void GreedyDescend(const Space& space, int top_layer, int stop_layer, uint32_t* cur,
                     float* cur_dist) const;

  // Beam search of width `ef` on `layer`; leaves the best non-deleted,
  // accepted nodes in `results` (a max-heap, at most ef).
  template <typename Space, typename Accept>
  void SearchLayer(const Space& space, uint32_t entry, float entry_dist, size_t ef, int layer,
                   const Accept& accept, VisitedList* visited, CandidateHeap* results) const;

  // The hnswlib heuristic: keep a candidate only when it is closer to the
  // base than to every kept one. `candidates` sorted closest first; distances
  // to the base. `between(a, b)`. `self_distance` is the base's distance to
  // itself: candidates at exactly that distance are copies of the base, which
  // the heuristic cannot tell apart (it keeps every tie), so at most half the
  // list goes to them, chosen pseudo-randomly per `base`. Without the cap a
  // run of more than max_count equal vectors links only among itself: an
  // island that a search entering it cannot leave.
  template <typename Between>
  static void SelectNeighbors(const std::vector<Neighbor>& candidates, size_t max_count,
                              float self_distance, uint32_t base, const Between& between,
                              std::vector<uint32_t>* selected);

  // Adds `slot` to the links of `neighbor` on `layer`, shrinking with the
  // heuristic when the list is full. Takes LockFor(neighbor).
  template <typename Space>
  void LinkBack(uint32_t neighbor, uint32_t slot, float dist, int layer, const Space& space);

  std::unique_ptr<VisitedList> AcquireVisited() const {
    auto list = visited_pool_.Acquire();
    list->Prepare(capacity_);
    return list;
  }

  static constexpr size_t kLockStripes = 4096;

  HnswGraphOptions options_;
  uint32_t max_links_;    // M
  uint32_t max_links0_;   // 2M
  size_t level0_stride_;  // 2M + 1
  double level_mult_;     // 1 / ln(M)
  size_t capacity_ = 0;

  std::unique_ptr<uint32_t[]> level0_;              // capacity * stride
  std::vector<std::unique_ptr<uint32_t[]>> upper_;  // per slot, null when level 0
  std::vector<int8_t> levels_;                      // -1 = not inserted
  std::vector<uint8_t> deleted_;                    // atomic byte flags

  std::atomic<uint32_t> entry_point_{kInvalidSlot};
  std::mutex entry_mu_;
  std::atomic<size_t> inserted_{0};
  std::atomic<size_t> deleted_count_{0};
  mutable std::unique_ptr<std::mutex[]> link_locks_;
  mutable hnsw_internal::VisitedPool visited_pool_;
};

// ---------------------------------------------------------------------------
// Template implementation.

template <typename Space>
void HnswGraph::GreedyDescend(const Space& space, int top_layer, int stop_layer, uint32_t* cur,
                              float* cur_dist) const {
  using hnsw_internal::LoadLink;
  for (int layer = top_layer; layer > stop_layer; --layer) {
    bool changed = true;
    while (changed) {
      changed = false;
      const uint32_t* list = Links(*cur, layer);
      const uint32_t count = std::min(LoadLink(list), max_links_);
      for (uint32_t i = 0; i < count; ++i) {
        const uint32_t next = LoadLink(list + 1 + i);
        const float d = space(next);
        if (d < *cur_dist) {
          *cur_dist = d;
          *cur = next;
          changed = true;
        }
      }
    }
  }
}

template <typename Space, typename Accept>
void HnswGraph::SearchLayer(const Space& space, uint32_t entry, float entry_dist, size_t ef,
                            int layer, const Accept& accept, VisitedList* visited,
                            CandidateHeap* results) const {
  using hnsw_internal::CloserFirst;
  using hnsw_internal::FartherFirst;
  using hnsw_internal::LoadLink;
  CandidateHeap& candidates = visited->candidates;  // min-heap: next to expand
  candidates.clear();
  results->clear();
  // Without tombstones the per-candidate flag load (a likely cache miss) is
  // skipped.
  const bool has_deleted = deleted_count_.load(std::memory_order_relaxed) != 0;
  visited->TestAndSet(entry);
  candidates.push_back({entry_dist, entry});
  if (!(has_deleted && IsDeleted(entry)) && accept(entry)) results->push_back({entry_dist, entry});
  float bound = results->empty() ? INFINITY : entry_dist;  // worst kept result

  const uint32_t max_links = MaxLinks(layer);
  while (!candidates.empty()) {
    const Neighbor current = candidates.front();
    if (current.distance > bound && results->size() >= ef) break;
    std::pop_heap(candidates.begin(), candidates.end(), CloserFirst{});
    candidates.pop_back();

    const uint32_t* list = Links(current.slot, layer);
    const uint32_t count = std::min(LoadLink(list), max_links);
    if (count == 0) continue;
    // Prefetch the first neighbour's mark and code; then one ahead.
    uint32_t next = LoadLink(list + 1);
    visited->PrefetchMark(next);
    space.Prefetch(next);
    for (uint32_t i = 0; i < count; ++i) {
      const uint32_t neighbor = next;
      if (i + 1 < count) {
        next = LoadLink(list + 2 + i);
        visited->PrefetchMark(next);
        space.Prefetch(next);
      }
      if (visited->TestAndSet(neighbor)) continue;
      const float d = space(neighbor);
      if (results->size() < ef || d < bound) {
        candidates.push_back({d, neighbor});
        std::push_heap(candidates.begin(), candidates.end(), CloserFirst{});
        if (!(has_deleted && IsDeleted(neighbor)) && accept(neighbor)) {
          results->push_back({d, neighbor});
          std::push_heap(results->begin(), results->end(), FartherFirst{});
          if (results->size() > ef) {
            std::pop_heap(results->begin(), results->end(), FartherFirst{});
            results->pop_back();
          }
          bound = results->front().distance;
        }
      }
    }
  }
}

template <typename Space, typename Accept>
void HnswGraph::Search(const Space& space, size_t k, size_t ef, const Accept& accept,
                       std::vector<Neighbor>* out) const {
  out->clear();
  const uint32_t entry = entry_point();
  if (entry == kInvalidSlot || k == 0) return;
  uint32_t cur = entry;
  float cur_dist = space(cur);
  GreedyDescend(space, levels_[entry], 0, &cur, &cur_dist);
  auto visited = AcquireVisited();
  CandidateHeap& results = visited->results;
  SearchLayer(space, cur, cur_dist, std::max(ef, k), 0, accept, visited.get(), &results);
  std::sort(results.begin(), results.end());
  out->assign(results.begin(), results.begin() + std::min(k, results.size()));
  visited_pool_.Release(std::move(visited));
}

template <typename Between>
void HnswGraph::SelectNeighbors(const std::vector<Neighbor>& candidates, size_t max_count,
                                float self_distance, uint32_t base, const Between& between,
                                std::vector<uint32_t>* selected) {
  selected->clear();
  const size_t max_duplicates = std::max<size_t>(1, max_count / 2);
  // Exact duplicates compute exactly the base's own distance; sorted by
  // distance, they are one run [first, first + duplicates).
  size_t first = 0;
  while (first < candidates.size() && candidates[first].distance < self_distance) ++first;
  size_t duplicates = 0;
  while (first + duplicates < candidates.size() &&
         candidates[first + duplicates].distance == self_distance) {
    ++duplicates;
  }
  if (candidates.size() <= max_count && duplicates <= max_duplicates) {
    for (const Neighbor& c : candidates) selected->push_back(c.slot);
    return;
  }
  const std::vector<Neighbor>* order = &candidates;
  std::vector<Neighbor> shuffled;
  if (duplicates > max_duplicates) {
    // Which duplicates: a pseudo-random choice per base, not the lowest slots,
    // so that links among copies spread over all of them and every copy stays
    // reachable.
    shuffled = candidates;
    const auto rank = [base](const Neighbor& n) { return Mix64(n.slot ^ (uint64_t{base} << 32)); };
    const auto run = shuffled.begin() + static_cast<std::ptrdiff_t>(first);
    std::sort(run, run + static_cast<std::ptrdiff_t>(duplicates),
              [&rank](const Neighbor& a, const Neighbor& b) { return rank(a) < rank(b); });
    order = &shuffled;
  }
  size_t kept_duplicates = 0;
  for (size_t i = 0; i < order->size(); ++i) {
    const Neighbor& c = (*order)[i];
    if (selected->size() >= max_count) break;
    if (i >= first && i < first + duplicates && ++kept_duplicates > max_duplicates) continue;
    bool keep = true;
    for (uint32_t kept : *selected) {
      if (between(c.slot, kept) < c.distance) {
        keep = false;
        break;
      }
    }
    if (keep) selected->push_back(c.slot);
  }
}

template <typename Space>
void HnswGraph::LinkBack(uint32_t neighbor, uint32_t slot, float dist, int layer,
                         const Space& space) {
  const uint32_t max_links = MaxLinks(layer);
  std::lock_guard<std::mutex> lock(LockFor(neighbor));
  uint32_t* list = Links(neighbor, layer);
  const uint32_t count = std::min(list[0], max_links);
  for (uint32_t i = 0; i < count; ++i) {
    if (list[1 + i] == slot) return;
  }
  if (count < max_links) {
    hnsw_internal::StoreLink(list + 1 + count, slot);
    hnsw_internal::StoreLink(list, count + 1);
    return;
  }
  // Full: re-select among the old links plus the new one, by the heuristic.
  std::vector<Neighbor> candidates;
  candidates.reserve(count + 1);
  candidates.push_back({dist, slot});
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t other = list[1 + i];
    candidates.push_back({space.Between(neighbor, other), other});
  }
  std::sort(candidates.begin(), candidates.end());
  std::vector<uint32_t> selected;
  SelectNeighbors(
      candidates, max_links, space.Between(neighbor, neighbor), neighbor,
      [&space](uint32_t a, uint32_t b) { return space.Between(a, b); }, &selected);
  WriteLinks(neighbor, layer, selected);
}

template <typename Space>
void HnswGraph::Insert(uint32_t slot, const Space& space) {
  const int level = DrawLevel(slot);
  if (level > 0) {
    upper_[slot] = std::make_unique<uint32_t[]>(static_cast<size_t>(level) * (max_links_ + 1));
  }
  hnsw_internal::StoreLink(Links(slot, 0), 0);
  levels_[slot] = static_cast<int8_t>(level);

  // An insert that may raise the top level holds entry_mu_ throughout.
  std::unique_lock<std::mutex> top_lock(entry_mu_, std::defer_lock);
  uint32_t entry = entry_point();
  if (entry == kInvalidSlot || level > levels_[entry]) {
    top_lock.lock();
    entry = entry_point();
    if (entry == kInvalidSlot) {
      inserted_.fetch_add(1, std::memory_order_relaxed);
      entry_point_.store(slot, std::memory_order_release);
      return;
    }
    if (level <= levels_[entry]) top_lock.unlock();
  }
  const int top = levels_[entry];

  uint32_t cur = entry;
  float cur_dist = space(cur);
  GreedyDescend(space, top, level, &cur, &cur_dist);

  // Phase 1: choose this node's links on every layer and write them before
  // anyone can reach it. Phase 2: link back (the node becomes reachable).
  auto visited = AcquireVisited();
  const auto between = [&space](uint32_t a, uint32_t b) { return space.Between(a, b); };
  const auto live = [](uint32_t) { return true; };
  const float self_distance = space(slot);
  CandidateHeap results;
  std::vector<std::vector<Neighbor>> chosen(static_cast<size_t>(std::min(level, top)) + 1);
  std::vector<uint32_t> selected;
  for (int layer = std::min(level, top); layer >= 0; --layer) {
    if (layer != std::min(level, top)) visited->Prepare(capacity_);
    SearchLayer(space, cur, cur_dist, options_.ef_construction, layer, live, visited.get(),
                &results);
    std::sort(results.begin(), results.end());
    if (!results.empty()) {
      cur = results.front().slot;
      cur_dist = results.front().distance;
    }
    SelectNeighbors(results, max_links_, self_distance, slot, between, &selected);
    {
      std::lock_guard<std::mutex> lock(LockFor(slot));
      WriteLinks(slot, layer, selected);
    }
    auto& keep = chosen[static_cast<size_t>(layer)];
    for (uint32_t s : selected) {
      for (const Neighbor& r : results) {
        if (r.slot == s) {
          keep.push_back(r);
          break;
        }
      }
    }
  }
  visited_pool_.Release(std::move(visited));
  for (int layer = static_cast<int>(chosen.size()) - 1; layer >= 0; --layer) {
    for (const Neighbor& n : chosen[static_cast<size_t>(layer)]) {
      LinkBack(n.slot, slot, n.distance, layer, space);
    }
  }
  inserted_.fetch_add(1, std::memory_order_relaxed);
  if (top_lock.owns_lock() && level > top) entry_point_.store(slot, std::memory_order_release);
}

template <typename Between>
void HnswGraph::RepairDeleted(const Between& between) {
  // Pick a live entry point first (the highest-level live node).
  uint32_t entry = entry_point();
  if (entry != kInvalidSlot && IsDeleted(entry)) {
    entry = kInvalidSlot;
    int best = -1;
    for (size_t s = 0; s < capacity_; ++s) {
      if (levels_[s] > best && !deleted_[s]) {
        best = levels_[s];
        entry = static_cast<uint32_t>(s);
      }
    }
    entry_point_.store(entry, std::memory_order_release);
  }
  if (entry == kInvalidSlot) return;

  std::vector<uint32_t> links, hop1, hop2, selected;
  std::vector<Neighbor> candidates;
  auto visited = AcquireVisited();
  CandidateHeap results;
  for (size_t s = 0; s < capacity_; ++s) {
    const uint32_t slot = static_cast<uint32_t>(s);
    if (levels_[s] < 0 || deleted_[s]) continue;
    for (int layer = 0; layer <= levels_[s]; ++layer) {
      ReadLinks(slot, layer, &links);
      bool touched = false;
      for (uint32_t l : links) touched |= deleted_[l] != 0;
      if (!touched) continue;
      // Candidates: live links, plus live nodes up to two hops through
      // deleted ones.
      visited->Prepare(capacity_);
      visited->TestAndSet(slot);
      candidates.clear();
      auto consider = [&](uint32_t c) {
        if (visited->TestAndSet(c)) return false;
        if (deleted_[c]) return true;  // expand through it
        candidates.push_back({between(slot, c), c});
        return false;
      };
      for (uint32_t l : links) {
        if (!consider(l)) continue;
        ReadLinks(l, layer, &hop1);
        for (uint32_t h1 : hop1) {
          if (!consider(h1)) continue;
          ReadLinks(h1, layer, &hop2);
          for (uint32_t h2 : hop2) consider(h2);
        }
      }
      const uint32_t max_links = MaxLinks(layer);
      if (candidates.size() < max_links / 2 && layer <= levels_[entry]) {
        // Too few: add a beam search for this node on this layer.
        struct NodeSpace {
          const Between* between;
          uint32_t base;
          float operator()(uint32_t other) const { return (*between)(base, other); }
          void Prefetch(uint32_t) const {}
        } space{&between, slot};
        uint32_t cur = entry;
        float cur_dist = space(cur);
        GreedyDescend(space, levels_[entry], layer, &cur, &cur_dist);
        visited->Prepare(capacity_);
        SearchLayer(
            space, cur, cur_dist, options_.ef_construction, layer,
            [slot](uint32_t c) { return c != slot; }, visited.get(), &results);
        for (const Neighbor& r : results) {
          bool dup = false;
          for (const Neighbor& c : candidates) dup |= c.slot == r.slot;
          if (!dup) candidates.push_back(r);
        }
      }
      std::sort(candidates.begin(), candidates.end());
      SelectNeighbors(candidates, max_links, between(slot, slot), slot, between, &selected);
      WriteLinks(slot, layer, selected);
    }
  }
  visited_pool_.Release(std::move(visited));
}

}  // namespace quarry::index::dense

#endif  // QUARRY_INDEX_DENSE_HNSW_H_
