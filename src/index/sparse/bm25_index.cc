#include "index/sparse/bm25_index.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <unordered_map>

#include "common/file_util.h"

namespace quarry::index {
namespace {

constexpr uint32_t kNoTerm = std::numeric_limits<uint32_t>::max();
constexpr uint32_t kEndSlot = std::numeric_limits<uint32_t>::max();
// Slots are uint32 and kEndSlot is reserved as the exhausted-cursor sentinel.
constexpr uint64_t kMaxSlots = uint64_t{kEndSlot} - 1;
// Auto-compaction: tombstones must exceed a quarter of the slots and this count.
constexpr uint64_t kMinTombstonesForCompact = 256;
constexpr uint32_t kMagic = 0x35324251;  // "QB25" little-endian
constexpr float kMaxTermWeight = 1e30f;  // clamps +inf weights
constexpr size_t kBlockSize = Bm25Index::kBlockSize;

// ---------------------------------------------------------------------------
// Scoring primitives. Every score, exact or bound, goes through TermScore, and
// the library is built with -ffp-contract=off, so both search paths produce
// bit-identical floats.

// Lucene's BM25Similarity.idf(), in double then rounded to float as Lucene does.
float Idf(uint64_t live_docs, uint64_t df) {
  const double n = static_cast<double>(live_docs);
  const double d = static_cast<double>(df);
  return static_cast<float>(std::log(1.0 + (n - d + 0.5) / (d + 0.5)));
}

// Length normalisation k1 * (1 - b + b * len / avgdl) == a + c * len.
struct LengthNorm {
  float a = 0.0f;
  float c = 0.0f;
  float operator()(float length) const { return a + c * length; }
};

inline float TermScore(float weight, float tf, float norm) { return weight * tf / (tf + norm); }

// ---------------------------------------------------------------------------
// Varints and compact float values for the snapshot payload.

void PutVarint64(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint64(ByteReader* reader, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    std::string_view byte;
    if (!reader->ReadBytes(1, &byte)) return false;
    const uint64_t b = static_cast<unsigned char>(byte[0]);
    if (shift == 63 && b > 1) return false;  // would overflow 64 bits
    result |= (b & 0x7F) << shift;
    if ((b & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

// Positive floats that are small integers (the usual tf and length) take one
// or two bytes: varint(v << 1). Anything else: varint(1) then the float bits.
void PutValue(std::string* out, float v) {
  if (v >= 1.0f && v < 2147483648.0f && std::floor(v) == v) {
    PutVarint64(out, static_cast<uint64_t>(v) << 1);
  } else {
    PutVarint64(out, 1);
    PutFloat(out, v);
  }
}

bool GetValue(ByteReader* reader, float* v) {
  uint64_t code;
  if (!GetVarint64(reader, &code)) return false;
  if (code == 1) return reader->ReadFloat(v);
  if ((code & 1) != 0 || (code >> 1) >= (uint64_t{1} << 31)) return false;
  *v = static_cast<float>(code >> 1);
  return true;
}

bool IsPositiveFinite(float v) { return v > 0.0f && std::isfinite(v); }

// Varint of the forward index (trusted, in-memory data).
void AppendVarint32(std::vector<uint8_t>* out, uint32_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<uint8_t>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<uint8_t>(v));
}

// ---------------------------------------------------------------------------
// Vocabulary: term <-> dense term id. Open addressing with linear probing over
// (hash, id) pairs; the term bytes live in one arena.
class Vocabulary {
 public:
  size_t size() const { return offsets_.size() - 1; }

  std::string_view Term(uint32_t id) const {
    return std::string_view(arena_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
  }

  uint32_t Find(std::string_view term) const {
    if (table_.empty()) return kNoTerm;
    const size_t hash = Hash(term);
    const uint32_t tag = static_cast<uint32_t>(hash >> 32) ^ static_cast<uint32_t>(hash);
    const size_t mask = table_.size() - 1;
    for (size_t pos = hash & mask;; pos = (pos + 1) & mask) {
      const Entry& entry = table_[pos];
      if (entry.id == kNoTerm) return kNoTerm;
      if (entry.tag == tag && Term(entry.id) == term) return entry.id;
    }
  }

  uint32_t FindOrInsert(std::string_view term) {
    if ((size() + 1) * 2 > table_.size()) Rehash(std::max<size_t>(16, table_.size() * 2));
    const size_t hash = Hash(term);
    const uint32_t tag = static_cast<uint32_t>(hash >> 32) ^ static_cast<uint32_t>(hash);
    const size_t mask = table_.size() - 1;
    for (size_t pos = hash & mask;; pos = (pos + 1) & mask) {
      Entry& entry = table_[pos];
      if (entry.id == kNoTerm) {
        entry.tag = tag;
        entry.id = static_cast<uint32_t>(size());
        arena_.append(term);
        offsets_.push_back(arena_.size());
        return entry.id;
      }
      if (entry.tag == tag && Term(entry.id) == term) return entry.id;
    }
  }

  void Reserve(size_t terms, size_t bytes) {
    offsets_.reserve(terms + 1);
    arena_.reserve(bytes);
    size_t capacity = 16;
    while (capacity < terms * 2 + 2) capacity *= 2;
    if (capacity > table_.size()) Rehash(capacity);
  }

  void ShrinkToFit() {
    arena_.shrink_to_fit();
    offsets_.shrink_to_fit();
  }

  size_t MemoryBytes() const {
    return table_.capacity() * sizeof(Entry) + arena_.capacity() +
           offsets_.capacity() * sizeof(uint64_t);
  }

 private:
  struct Entry {
    uint32_t tag = 0;
    uint32_t id = kNoTerm;
  };

  static size_t Hash(std::string_view term) { return std::hash<std::string_view>{}(term); }

  void Rehash(size_t capacity) {
    std::vector<Entry> table(capacity);
    const size_t mask = capacity - 1;
    for (uint32_t id = 0; id < size(); ++id) {
      const size_t hash = Hash(Term(id));
      size_t pos = hash & mask;
      while (table[pos].id != kNoTerm) pos = (pos + 1) & mask;
      table[pos].tag = static_cast<uint32_t>(hash >> 32) ^ static_cast<uint32_t>(hash);
      table[pos].id = id;
    }
    table_.swap(table);
  }

  std::vector<Entry> table_;  // capacity is a power of two, load <= 1/2
  std::string arena_;
  std::vector<uint64_t> offsets_{0};
};

// ---------------------------------------------------------------------------
// Postings.

struct Posting {
  uint32_t slot;
  float tf;
};

// Block b covers postings [b * kBlockSize, (b + 1) * kBlockSize). Its score
// bound is TermScore(weight, max_tf, norm(min_length)): BM25 grows with tf and
// shrinks with length, so this bounds every posting of the block whatever idf
// and avgdl are at query time.
struct BlockMeta {
  uint32_t first_slot;
  uint32_t last_slot;
  float max_tf;
  float min_length;
};

struct PostingList {
  std::vector<Posting> postings;  // ascending slot
  std::vector<BlockMeta> blocks;
  uint32_t live_df = 0;  // postings whose slot is live

  // REQUIRES: slot greater than every slot in the list.
  void Append(uint32_t slot, float tf, float length) {
    if (postings.size() % kBlockSize == 0) {
      blocks.push_back({slot, slot, tf, length});
    } else {
      BlockMeta& block = blocks.back();
      block.last_slot = slot;
      block.max_tf = std::max(block.max_tf, tf);
      block.min_length = std::min(block.min_length, length);
    }
    postings.push_back({slot, tf});
  }

  size_t MemoryBytes() const {
    return postings.capacity() * sizeof(Posting) + blocks.capacity() * sizeof(BlockMeta);
  }
};

// A query term resolved against the index.
struct QueryTerm {
  uint32_t term_id;
  float weight;  // occurrences in the query * idf
};

// ---------------------------------------------------------------------------
// Top-k collection: ordered by score descending, then point id ascending.

inline bool Better(const ScoredPoint& lhs, const ScoredPoint& rhs) {
  return lhs.score > rhs.score || (lhs.score == rhs.score && lhs.point_id < rhs.point_id);
}

class TopK {
 public:
  TopK(size_t k, size_t expected) : k_(k) { heap_.reserve(std::min(k, expected)); }

  bool full() const { return heap_.size() >= k_; }
  // Scores strictly below this can never enter; equal ones may (lower id).
  float threshold() const {
    return full() ? heap_.front().score : -std::numeric_limits<float>::infinity();
  }

  void Push(float score, uint64_t point_id) {
    const ScoredPoint candidate{point_id, score};
    if (!full()) {
      heap_.push_back(candidate);
      std::push_heap(heap_.begin(), heap_.end(), Better);  // front = worst
    } else if (Better(candidate, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), Better);
      heap_.back() = candidate;
      std::push_heap(heap_.begin(), heap_.end(), Better);
    }
  }

  std::vector<ScoredPoint> Take() {
    std::sort_heap(heap_.begin(), heap_.end(), Better);  // best first
    return std::move(heap_);
  }

 private:
  size_t k_;
  std::vector<ScoredPoint> heap_;
};

// ---------------------------------------------------------------------------
// Windowed MaxScore (Turtle & Flood 1995; the shape of Lucene's
// MaxScoreBulkScorer).
//
// Slots are visited in windows (kFirstWindow slots, doubling up to kMaxWindow).
// In each window every query term gets an upper bound of its score there: the
// largest bound of its blocks that overlap the window (0 when it has no
// posting there). With the terms in canonical order (see Impl::Resolve), the
// longest suffix whose summed bounds stay below the threshold is
// non-essential: a document matching only those terms cannot enter the top k.
// A window where every term is non-essential is skipped outright. Otherwise the
// essential prefix is scored term at a time into a window-sized accumulator,
// and each accumulated document then probes the non-essential terms in
// canonical order, dropping out as soon as its partial score plus the bounds
// of the terms left is below the threshold; those bounds are the ones of the
// blocks holding the document (as in PISA's block_max_maxscore), checked
// before any of its postings is touched. Contributions are added to each
// document in canonical order, starting from 0, as SearchExhaustive adds them,
// so the surviving scores are bit-identical.

constexpr uint32_t kFirstWindow = 512;   // small, so the threshold rises early
constexpr uint32_t kMaxWindow = 4096;    // accumulator: 16 KiB of floats

// Blocks of one list that can overlap a window: every block but the first and
// the last lies inside it, with kBlockSize distinct slots.
constexpr uint32_t kMaxWindowBlocks = kMaxWindow / kBlockSize + 2;

// One query term's posting list, walked forward only.
struct TermCursor {
  const Posting* postings = nullptr;
  const BlockMeta* blocks = nullptr;
  uint32_t size = 0;
  uint32_t num_blocks = 0;
  uint32_t pos = 0;    // postings before pos have slots below every later target
  uint32_t block = 0;  // first block that overlaps the current window
  uint32_t window_blocks = 0;  // blocks overlapping the current window
  uint32_t probe_block = 0;    // block of the last BoundAt() slot
  float weight = 0.0f;
  float window_bound = 0.0f;  // inflated bound over the current window
  bool in_window = false;     // window_blocks > 0
  float block_bounds[kMaxWindowBlocks];  // inflated, of blocks [block, block + window_blocks)

  uint32_t Slot() const { return pos < size ? postings[pos].slot : kEndSlot; }

  // Computes the bounds of the blocks overlapping the slots [begin, end),
  // begin not below the previous window's end.
  void BoundWindow(uint32_t begin, uint32_t end, const LengthNorm& norm, float inflation) {
    while (block < num_blocks && blocks[block].last_slot < begin) ++block;
    float bound = 0.0f;
    uint32_t b = block;
    for (; b < num_blocks && blocks[b].first_slot < end; ++b) {
      const float block_bound =
          inflation * TermScore(weight, blocks[b].max_tf, norm(blocks[b].min_length));
      block_bounds[b - block] = block_bound;
      bound = std::max(bound, block_bound);
    }
    window_blocks = b - block;
    probe_block = block;
    window_bound = bound;
    in_window = window_blocks > 0;
  }

  // Bound of the block that would hold `slot` (0 past the window's blocks).
  // REQUIRES: slot in the window, not below the previous BoundAt() slot.
  float BoundAt(uint32_t slot) {
    const uint32_t window_end = block + window_blocks;
    while (probe_block < window_end && blocks[probe_block].last_slot < slot) ++probe_block;
    return probe_block < window_end ? block_bounds[probe_block - block] : 0.0f;
  }

  // Moves to the first posting with slot >= target (to size when none).
  void AdvanceTo(uint32_t target) {
    if (pos >= size || postings[pos].slot >= target) return;
    uint32_t b = pos / kBlockSize;
    if (block > b && blocks[block - 1].last_slot < target) b = block;
    if (probe_block > b && blocks[probe_block - 1].last_slot < target) b = probe_block;
    while (b < num_blocks && blocks[b].last_slot < target) ++b;
    if (b >= num_blocks) {
      pos = size;
      return;
    }
    const Posting* lo = postings + std::max<size_t>(pos, size_t{b} * kBlockSize);
    const Posting* last = postings + std::min<size_t>(size, (size_t{b} + 1) * kBlockSize);
    // The block's last slot is >= target, so the answer lies in [lo, last).
    // Short moves are the common case: gallop from lo (touching lines near
    // it), then bisect (branch-free) the last step.
    if (lo->slot >= target) {
      pos = static_cast<uint32_t>(lo - postings);
      return;
    }
    size_t step = 1;
    for (; step < static_cast<size_t>(last - lo) && lo[step].slot < target; step *= 2) lo += step;
    // Now lo->slot < target, and the answer lies in (lo, lo + min(step, last - 1 - lo)].
    const Posting* first = lo + 1;
    size_t n = std::min(step, static_cast<size_t>(last - first));
    while (n > 1) {
      const size_t half = n / 2;
      first = first[half - 1].slot < target ? first + half : first;
      n -= half;
    }
    if (first->slot < target) ++first;
    pos = static_cast<uint32_t>(first - postings);
  }
};

}  // namespace

// ---------------------------------------------------------------------------

struct Bm25Index::Impl {
  Vocabulary vocab;
  std::vector<PostingList> lists;   // by term id
  std::vector<uint64_t> slot_point;  // slot -> point id
  std::vector<float> slot_length;    // slot -> length; negative = tombstone
  // Forward index (slot -> its term ids, ascending, delta + varint), used to
  // update live document frequencies on Remove.
  std::vector<uint8_t> forward_bytes;
  std::vector<uint64_t> forward_offsets{0};
  std::unordered_map<uint64_t, uint32_t> point_slot;  // live documents only

  uint64_t live_docs = 0;
  double live_length = 0.0;
  uint64_t tombstones = 0;
  uint64_t total_postings = 0;
  uint64_t live_terms = 0;  // terms with live_df > 0

  size_t num_slots() const { return slot_point.size(); }
  bool IsLive(uint32_t slot) const { return slot_length[slot] >= 0.0f; }

  LengthNorm Norm(const Bm25Params& params) const {
    // Lucene: avgdl = (float) (sumTotalTermFreq / (double) docCount).
    const float avgdl =
        live_docs == 0 ? 1.0f : static_cast<float>(live_length / static_cast<double>(live_docs));
    LengthNorm norm;
    norm.a = params.k1 * (1.0f - params.b);
    norm.c = avgdl > 0.0f ? params.k1 * params.b / avgdl : 0.0f;
    return norm;
  }

  // Unique known query terms in first-occurrence order, weight = count * idf.
  std::vector<QueryTerm> Resolve(const std::vector<std::string>& query_terms) const {
    std::vector<QueryTerm> terms;
    std::vector<uint32_t> counts;
    for (const std::string& text : query_terms) {
      const uint32_t id = vocab.Find(text);
      if (id == kNoTerm || lists[id].live_df == 0) continue;
      auto it = std::find_if(terms.begin(), terms.end(),
                             [id](const QueryTerm& t) { return t.term_id == id; });
      if (it == terms.end()) {
        terms.push_back({id, 0.0f});
        counts.push_back(1);
      } else {
        ++counts[it - terms.begin()];
      }
    }
    for (size_t i = 0; i < terms.size(); ++i) {
      terms[i].weight =
          static_cast<float>(counts[i]) * Idf(live_docs, lists[terms[i].term_id].live_df);
    }
    // Canonical order: weight descending, then first occurrence. Every score
    // is summed in this order. It depends only on the query and the live
    // statistics (not on block layout), so compaction and snapshots keep it,
    // and MaxScore's non-essential terms (the low-weight ones) form a suffix.
    std::stable_sort(terms.begin(), terms.end(), [](const QueryTerm& lhs, const QueryTerm& rhs) {
      return lhs.weight > rhs.weight;
    });
    return terms;
  }

  // Top k by windowed MaxScore (see TermCursor above).
  // REQUIRES: k > 0, terms non-empty, in canonical order.
  std::vector<ScoredPoint> MaxScoreTopK(const std::vector<QueryTerm>& terms, LengthNorm norm,
                                        size_t k, const Bm25Filter* filter = nullptr) const {
    const size_t m = terms.size();
    // Bounds are inflated so that float rounding (in each term score and in
    // the sums) can never make a bound smaller than a score it covers; partial
    // scores are inflated the same way when compared with the threshold.
    const float inflation = 1.0f + static_cast<float>(2 * m + 16) * 0x1p-23f;
    std::vector<TermCursor> cursors(m);
    for (size_t i = 0; i < m; ++i) {
      const PostingList& list = lists[terms[i].term_id];
      TermCursor& c = cursors[i];
      c.postings = list.postings.data();
      c.blocks = list.blocks.data();
      c.size = static_cast<uint32_t>(list.postings.size());
      c.num_blocks = static_cast<uint32_t>(list.blocks.size());
      c.weight = terms[i].weight;
    }
    // rest[i]: summed window bounds of terms i..m-1.
    std::vector<float> rest(m + 1, 0.0f);
    // block_rest[i]: the same with the bounds of the blocks holding one slot.
    std::vector<float> block_rest(m + 1, 0.0f);
    const uint32_t slots = static_cast<uint32_t>(num_slots());
    std::vector<float> acc(std::min<uint32_t>(kMaxWindow, slots), 0.0f);
    std::vector<uint64_t> hits((acc.size() + 63) / 64, 0);
    const float* lengths = slot_length.data();

    TopK top(k, live_docs);
    // A document whose bound is below theta cannot enter; one equal to it may
    // (ties go to the lower point id).
    float theta = top.threshold();
    uint32_t window = kFirstWindow;
    for (uint32_t begin = 0; begin < slots;) {
      const uint32_t end = slots - begin > window ? begin + window : slots;
      window = std::min(window * 2, kMaxWindow);
      for (size_t i = m; i-- > 0;) {
        cursors[i].BoundWindow(begin, end, norm, inflation);
        rest[i] = rest[i + 1] + cursors[i].window_bound;
      }
      // Essential prefix [0, essential): the rest cannot reach theta alone.
      size_t essential = 0;
      while (essential < m && rest[essential] >= theta) ++essential;

      // Score the essential terms into the accumulator.
      for (size_t i = 0; i < essential; ++i) {
        TermCursor& c = cursors[i];
        if (!c.in_window) continue;
        c.AdvanceTo(begin);
        const Posting* p = c.postings + c.pos;
        const Posting* const list_end = c.postings + c.size;
        const float weight = c.weight;
        for (; p != list_end && p->slot < end; ++p) {
          const float length = lengths[p->slot];
          if (length < 0.0f) continue;  // tombstone
          const uint32_t offset = p->slot - begin;
          acc[offset] += TermScore(weight, p->tf, norm(length));
          hits[offset / 64] |= uint64_t{1} << (offset % 64);
        }
        c.pos = static_cast<uint32_t>(p - c.postings);
      }

      // Complete each accumulated document with the non-essential terms.
      const size_t words = essential == 0 ? 0 : (end - begin + 63) / 64;
      for (size_t word_idx = 0; word_idx < words; ++word_idx) {
        uint64_t word = hits[word_idx];
        hits[word_idx] = 0;
        while (word != 0) {
          const uint32_t offset =
              static_cast<uint32_t>(word_idx * 64) + static_cast<uint32_t>(__builtin_ctzll(word));
          word &= word - 1;
          float score = acc[offset];
          acc[offset] = 0.0f;
          if (score * inflation + rest[essential] < theta) continue;
          const uint32_t slot = begin + offset;
          // The same test with the bounds of the blocks holding the slot.
          for (size_t i = m; i-- > essential;) {
            TermCursor& c = cursors[i];
            block_rest[i] = block_rest[i + 1] + (c.in_window ? c.BoundAt(slot) : 0.0f);
          }
          if (score * inflation + block_rest[essential] < theta) continue;
          const float doc_norm = norm(lengths[slot]);
          bool pruned = false;
          for (size_t i = essential; i < m; ++i) {
            TermCursor& c = cursors[i];
            if (!c.in_window) continue;
            c.AdvanceTo(slot);
            if (c.Slot() == slot) score += TermScore(c.weight, c.postings[c.pos].tf, doc_norm);
            if (score * inflation + block_rest[i + 1] < theta) {
              pruned = true;
              break;
            }
          }
          if (pruned || score < theta) continue;
          if (filter != nullptr && !Allowed(*filter, slot_point[slot])) continue;
          top.Push(score, slot_point[slot]);
          theta = top.threshold();
        }
      }
      begin = end;
    }
    return top.Take();
  }

  static bool Allowed(const Bm25Filter& filter, uint64_t point_id) {
    if (filter.candidates != nullptr &&
        !std::binary_search(filter.candidates->begin(), filter.candidates->end(), point_id)) {
      return false;
    }
    return filter.accept == nullptr || (*filter.accept)(point_id);
  }

  // Top k among `candidates` (ascending point ids), each scored alone: its
  // postings found by binary search, contributions added in canonical order
  // from 0 as the other paths add them, so the scores are bit-identical.
  std::vector<ScoredPoint> CandidateTopK(const std::vector<QueryTerm>& terms, LengthNorm norm,
                                         size_t k, const Bm25Filter& filter) const {
    TopK top(k, filter.candidates->size());
    for (uint64_t point_id : *filter.candidates) {
      auto it = point_slot.find(point_id);
      if (it == point_slot.end()) continue;
      const uint32_t slot = it->second;
      const float doc_norm = norm(slot_length[slot]);
      float score = 0.0f;
      bool matched = false;
      for (const QueryTerm& term : terms) {
        const std::vector<Posting>& postings = lists[term.term_id].postings;
        auto p = std::lower_bound(postings.begin(), postings.end(), slot,
                                  [](const Posting& posting, uint32_t s) { return posting.slot < s; });
        if (p == postings.end() || p->slot != slot) continue;
        score += TermScore(term.weight, p->tf, doc_norm);
        matched = true;
      }
      if (!matched || score < top.threshold()) continue;
      if (filter.accept != nullptr && !(*filter.accept)(point_id)) continue;
      top.Push(score, point_id);
    }
    return top.Take();
  }

  template <typename Fn>
  void ForEachForwardTerm(uint32_t slot, Fn&& fn) const {
    const uint8_t* p = forward_bytes.data() + forward_offsets[slot];
    const uint8_t* end = forward_bytes.data() + forward_offsets[slot + 1];
    uint32_t term = 0;
    bool first = true;
    while (p < end) {
      uint32_t delta = 0;
      for (int shift = 0;; shift += 7) {
        const uint8_t b = *p++;
        delta |= uint32_t{b & 0x7Fu} << shift;
        if ((b & 0x80) == 0) break;
      }
      term = first ? delta : term + delta;
      first = false;
      fn(term);
    }
  }

  void AppendForward(const std::vector<std::pair<uint32_t, float>>& sorted_terms) {
    uint32_t prev = 0;
    bool first = true;
    for (const auto& [term, tf] : sorted_terms) {
      AppendVarint32(&forward_bytes, first ? term : term - prev);
      prev = term;
      first = false;
    }
    forward_offsets.push_back(forward_bytes.size());
  }

  // Rebuilds the forward index from the posting lists (term ids ascending).
  void RebuildForward() {
    const size_t slots = num_slots();
    std::vector<uint64_t> start(slots + 1, 0);
    for (const PostingList& list : lists) {
      for (const Posting& p : list.postings) ++start[p.slot + 1];
    }
    for (size_t s = 0; s < slots; ++s) start[s + 1] += start[s];
    std::vector<uint32_t> terms(start[slots]);
    std::vector<uint64_t> fill(start.begin(), start.end() - 1);
    for (uint32_t t = 0; t < lists.size(); ++t) {
      for (const Posting& p : lists[t].postings) terms[fill[p.slot]++] = t;
    }
    forward_bytes.clear();
    forward_offsets.assign(1, 0);
    forward_offsets.reserve(slots + 1);
    for (size_t s = 0; s < slots; ++s) {
      uint32_t prev = 0;
      for (uint64_t i = start[s]; i < start[s + 1]; ++i) {
        AppendVarint32(&forward_bytes, i == start[s] ? terms[i] : terms[i] - prev);
        prev = terms[i];
      }
      forward_offsets.push_back(forward_bytes.size());
    }
    forward_bytes.shrink_to_fit();
  }

  void RebuildPointMap() {
    point_slot.clear();
    point_slot.reserve(live_docs);
    for (uint32_t s = 0; s < num_slots(); ++s) {
      if (IsLive(s)) point_slot.emplace(slot_point[s], s);
    }
  }
};

// ---------------------------------------------------------------------------

Bm25Index::Bm25Index(Bm25Params params) : params_(params), impl_(std::make_unique<Impl>()) {}
Bm25Index::~Bm25Index() = default;
Bm25Index::Bm25Index(Bm25Index&&) noexcept = default;
Bm25Index& Bm25Index::operator=(Bm25Index&&) noexcept = default;

void Bm25Index::Add(uint64_t point_id, const std::vector<WeightedTerm>& terms, float length) {
  Impl& impl = *impl_;
  if (impl.point_slot.count(point_id) != 0) Remove(point_id);
  if (impl.num_slots() >= kMaxSlots) Compact();
  if (impl.num_slots() >= kMaxSlots) {
    std::fprintf(stderr, "Bm25Index: more than %llu documents\n",
                 static_cast<unsigned long long>(kMaxSlots));
    std::abort();
  }

  std::vector<std::pair<uint32_t, float>> doc_terms;
  doc_terms.reserve(terms.size());
  for (const WeightedTerm& term : terms) {
    doc_terms.emplace_back(impl.vocab.FindOrInsert(term.term), term.weight);
  }
  if (impl.lists.size() < impl.vocab.size()) impl.lists.resize(impl.vocab.size());
  std::sort(doc_terms.begin(), doc_terms.end(),
            [](const auto& lhs, const auto& rhs) { return lhs.first < rhs.first; });
  // Merge repeats, then drop non-positive (or NaN) weights and clamp +inf.
  size_t out = 0;
  float weight_sum = 0.0f;
  for (size_t i = 0; i < doc_terms.size();) {
    float tf = 0.0f;
    const uint32_t term = doc_terms[i].first;
    for (; i < doc_terms.size() && doc_terms[i].first == term; ++i) tf += doc_terms[i].second;
    if (!(tf > 0.0f)) continue;
    tf = std::min(tf, kMaxTermWeight);
    doc_terms[out++] = {term, tf};
    weight_sum += tf;
  }
  doc_terms.resize(out);
  if (!IsPositiveFinite(length)) {
    length = IsPositiveFinite(weight_sum) ? weight_sum : 1.0f;
  }

  const uint32_t slot = static_cast<uint32_t>(impl.num_slots());
  for (const auto& [term, tf] : doc_terms) {
    PostingList& list = impl.lists[term];
    list.Append(slot, tf, length);
    if (list.live_df++ == 0) ++impl.live_terms;
  }
  impl.total_postings += doc_terms.size();
  impl.AppendForward(doc_terms);
  impl.slot_point.push_back(point_id);
  impl.slot_length.push_back(length);
  impl.point_slot.emplace(point_id, slot);
  ++impl.live_docs;
  impl.live_length += length;
}

void Bm25Index::AddTerms(uint64_t point_id, const std::vector<std::string>& terms) {
  std::vector<WeightedTerm> weighted;
  weighted.reserve(terms.size());
  for (const std::string& term : terms) weighted.push_back({term, 1.0f});
  Add(point_id, weighted, static_cast<float>(terms.size()));
}

bool Bm25Index::Remove(uint64_t point_id) {
  Impl& impl = *impl_;
  auto it = impl.point_slot.find(point_id);
  if (it == impl.point_slot.end()) return false;
  const uint32_t slot = it->second;
  impl.point_slot.erase(it);
  impl.ForEachForwardTerm(slot, [&impl](uint32_t term) {
    if (--impl.lists[term].live_df == 0) --impl.live_terms;
  });
  --impl.live_docs;
  impl.live_length = impl.live_docs == 0 ? 0.0 : impl.live_length - impl.slot_length[slot];
  impl.slot_length[slot] = -1.0f;
  ++impl.tombstones;
  if (impl.tombstones > kMinTombstonesForCompact && impl.tombstones * 4 > impl.num_slots()) {
    Compact();
  }
  return true;
}

bool Bm25Index::Contains(uint64_t point_id) const { return impl_->point_slot.count(point_id) != 0; }

std::vector<ScoredPoint> Bm25Index::Search(const std::vector<std::string>& query_terms,
                                           size_t k) const {
  const Impl& impl = *impl_;
  if (k == 0 || impl.live_docs == 0) return {};
  const std::vector<QueryTerm> terms = impl.Resolve(query_terms);
  if (terms.empty()) return {};
  return impl.MaxScoreTopK(terms, impl.Norm(params_), k);
}

std::vector<ScoredPoint> Bm25Index::Search(const std::vector<std::string>& query_terms, size_t k,
                                           const Bm25Filter& filter) const {
  if (filter.candidates == nullptr && filter.accept == nullptr) return Search(query_terms, k);
  const Impl& impl = *impl_;
  if (k == 0 || impl.live_docs == 0) return {};
  if (filter.candidates != nullptr && filter.candidates->empty()) return {};
  const std::vector<QueryTerm> terms = impl.Resolve(query_terms);
  if (terms.empty()) return {};
  const LengthNorm norm = impl.Norm(params_);
  if (filter.candidates != nullptr) {
    // Scoring a candidate costs a binary search per term; MaxScore costs up
    // to every posting of the query. Score the candidates when they are few.
    uint64_t postings = 0;
    for (const QueryTerm& term : terms) postings += impl.lists[term.term_id].postings.size();
    if (filter.candidates->size() * terms.size() * 4 <= postings) {
      return impl.CandidateTopK(terms, norm, k, filter);
    }
  }
  return impl.MaxScoreTopK(terms, norm, k, &filter);
}

std::vector<ScoredPoint> Bm25Index::SearchExhaustive(const std::vector<std::string>& query_terms,
                                                     size_t k) const {
  return SearchExhaustive(query_terms, k, Bm25Filter{});
}

std::vector<ScoredPoint> Bm25Index::SearchExhaustive(const std::vector<std::string>& query_terms,
                                                     size_t k, const Bm25Filter& filter) const {
  const Impl& impl = *impl_;
  if (k == 0 || impl.live_docs == 0) return {};
  const std::vector<QueryTerm> terms = impl.Resolve(query_terms);
  if (terms.empty()) return {};
  const LengthNorm norm = impl.Norm(params_);
  std::vector<float> scores(impl.num_slots(), 0.0f);
  std::vector<uint8_t> seen(impl.num_slots(), 0);
  std::vector<uint32_t> touched;
  for (const QueryTerm& term : terms) {
    for (const Posting& p : impl.lists[term.term_id].postings) {
      const float length = impl.slot_length[p.slot];
      if (length < 0.0f) continue;
      if (!seen[p.slot]) {
        seen[p.slot] = 1;
        touched.push_back(p.slot);
      }
      scores[p.slot] += TermScore(term.weight, p.tf, norm(length));
    }
  }
  TopK top(k, touched.size());
  const bool filtered = filter.candidates != nullptr || filter.accept != nullptr;
  for (uint32_t slot : touched) {
    if (filtered && !Impl::Allowed(filter, impl.slot_point[slot])) continue;
    top.Push(scores[slot], impl.slot_point[slot]);
  }
  return top.Take();
}

Bm25Stats Bm25Index::Stats() const {
  const Impl& impl = *impl_;
  Bm25Stats stats;
  stats.documents = impl.live_docs;
  stats.terms = impl.live_terms;
  stats.postings = impl.total_postings;
  stats.tombstones = impl.tombstones;
  stats.average_length =
      impl.live_docs == 0 ? 0.0 : impl.live_length / static_cast<double>(impl.live_docs);
  uint64_t bytes = sizeof(Bm25Index) + sizeof(Impl) + impl.vocab.MemoryBytes();
  bytes += impl.lists.capacity() * sizeof(PostingList);
  for (const PostingList& list : impl.lists) bytes += list.MemoryBytes();
  bytes += impl.slot_point.capacity() * sizeof(uint64_t);
  bytes += impl.slot_length.capacity() * sizeof(float);
  bytes += impl.forward_bytes.capacity() + impl.forward_offsets.capacity() * sizeof(uint64_t);
  // unordered_map: one node (key, value, next pointer, cached hash) per entry
  // plus the bucket array.
  bytes += impl.point_slot.size() * (sizeof(std::pair<const uint64_t, uint32_t>) + 16) +
           impl.point_slot.bucket_count() * sizeof(void*);
  stats.memory_bytes = bytes;
  return stats;
}

void Bm25Index::Compact() {
  Impl& impl = *impl_;
  if (impl.tombstones == 0) return;
  const size_t old_slots = impl.num_slots();
  std::vector<uint32_t> remap(old_slots, kEndSlot);
  std::vector<uint64_t> slot_point;
  std::vector<float> slot_length;
  slot_point.reserve(impl.live_docs);
  slot_length.reserve(impl.live_docs);
  double live_length = 0.0;
  for (uint32_t s = 0; s < old_slots; ++s) {
    if (!impl.IsLive(s)) continue;
    remap[s] = static_cast<uint32_t>(slot_point.size());
    slot_point.push_back(impl.slot_point[s]);
    slot_length.push_back(impl.slot_length[s]);
    live_length += impl.slot_length[s];
  }

  Vocabulary vocab;
  vocab.Reserve(impl.live_terms, 0);
  std::vector<PostingList> lists;
  lists.reserve(impl.live_terms);
  uint64_t total_postings = 0;
  for (uint32_t t = 0; t < impl.lists.size(); ++t) {
    const PostingList& old_list = impl.lists[t];
    if (old_list.live_df == 0) continue;
    vocab.FindOrInsert(impl.vocab.Term(t));
    PostingList& list = lists.emplace_back();
    list.postings.reserve(old_list.live_df);
    list.blocks.reserve((old_list.live_df + kBlockSize - 1) / kBlockSize);
    for (const Posting& p : old_list.postings) {
      const uint32_t slot = remap[p.slot];
      if (slot != kEndSlot) list.Append(slot, p.tf, slot_length[slot]);
    }
    list.live_df = static_cast<uint32_t>(list.postings.size());
    total_postings += list.postings.size();
  }
  vocab.ShrinkToFit();

  impl.vocab = std::move(vocab);
  impl.lists = std::move(lists);
  impl.slot_point = std::move(slot_point);
  impl.slot_length = std::move(slot_length);
  impl.live_length = live_length;
  impl.tombstones = 0;
  impl.total_postings = total_postings;
  impl.live_terms = impl.lists.size();
  impl.RebuildForward();
  impl.RebuildPointMap();
}

// Payload format (version 1), little-endian; varint = LEB128:
//   magic u32 "QB25" | version u32 | k1 f32 | b f32
//   num_docs varint, then per document (slot order): point_id varint, length value
//   num_terms varint, then per term:
//     term_size varint | term bytes | df varint (>= 1)
//     df postings: slot gap varint (first: slot; then slot - previous - 1) | tf value
// A "value" is varint(v << 1) for integral v in [1, 2^31), else varint(1) + f32.
// Only live documents are written (slots renumbered densely), so a
// deserialized index has no tombstones.
std::string Bm25Index::Serialize() const {
  const Impl& impl = *impl_;
  std::string out;
  out.reserve(64 + impl.live_docs * 6 + impl.total_postings * 3);
  PutFixed32(&out, kMagic);
  PutFixed32(&out, kFormatVersion);
  PutFloat(&out, params_.k1);
  PutFloat(&out, params_.b);

  std::vector<uint32_t> remap(impl.num_slots(), kEndSlot);
  PutVarint64(&out, impl.live_docs);
  uint32_t next_slot = 0;
  for (uint32_t s = 0; s < impl.num_slots(); ++s) {
    if (!impl.IsLive(s)) continue;
    remap[s] = next_slot++;
    PutVarint64(&out, impl.slot_point[s]);
    PutValue(&out, impl.slot_length[s]);
  }

  PutVarint64(&out, impl.live_terms);
  for (uint32_t t = 0; t < impl.lists.size(); ++t) {
    const PostingList& list = impl.lists[t];
    if (list.live_df == 0) continue;
    const std::string_view term = impl.vocab.Term(t);
    PutVarint64(&out, term.size());
    out.append(term);
    PutVarint64(&out, list.live_df);
    uint64_t next_expected = 0;  // previous slot + 1
    for (const Posting& p : list.postings) {
      const uint32_t slot = remap[p.slot];
      if (slot == kEndSlot) continue;
      PutVarint64(&out, slot - next_expected);
      next_expected = uint64_t{slot} + 1;
      PutValue(&out, p.tf);
    }
  }
  return out;
}

Result<Bm25Index> Bm25Index::Deserialize(std::string_view bytes) {
  auto corrupt = [](const std::string& what) {
    return Status::Corruption("bm25 index snapshot: " + what);
  };
  ByteReader reader(bytes);
  uint32_t magic = 0;
  uint32_t version = 0;
  Bm25Params params;
  if (!reader.ReadFixed32(&magic) || magic != kMagic) return corrupt("bad magic");
  if (!reader.ReadFixed32(&version)) return corrupt("truncated header");
  if (version != kFormatVersion) {
    return corrupt("unsupported format version " + std::to_string(version) + " (expected " +
                   std::to_string(kFormatVersion) + ")");
  }
  if (!reader.ReadFloat(&params.k1) || !reader.ReadFloat(&params.b)) {
    return corrupt("truncated header");
  }
  if (!std::isfinite(params.k1) || params.k1 < 0.0f || !(params.b >= 0.0f && params.b <= 1.0f)) {
    return corrupt("invalid BM25 parameters");
  }

  Bm25Index index(params);
  Impl& impl = *index.impl_;

  uint64_t num_docs = 0;
  if (!GetVarint64(&reader, &num_docs)) return corrupt("truncated document count");
  // Each document takes at least two bytes.
  if (num_docs > reader.remaining() / 2 || num_docs > kMaxSlots) {
    return corrupt("document count " + std::to_string(num_docs) + " exceeds the payload");
  }
  impl.slot_point.reserve(num_docs);
  impl.slot_length.reserve(num_docs);
  impl.point_slot.reserve(num_docs);
  for (uint64_t d = 0; d < num_docs; ++d) {
    uint64_t point_id = 0;
    float length = 0.0f;
    if (!GetVarint64(&reader, &point_id) || !GetValue(&reader, &length)) {
      return corrupt("truncated or malformed document " + std::to_string(d));
    }
    if (!IsPositiveFinite(length)) return corrupt("invalid length of document " + std::to_string(d));
    if (!impl.point_slot.emplace(point_id, static_cast<uint32_t>(d)).second) {
      return corrupt("duplicate point id " + std::to_string(point_id));
    }
    impl.slot_point.push_back(point_id);
    impl.slot_length.push_back(length);
    impl.live_length += length;
  }
  impl.live_docs = num_docs;

  uint64_t num_terms = 0;
  if (!GetVarint64(&reader, &num_terms)) return corrupt("truncated term count");
  // Each term takes at least four bytes (size, df, one posting of two bytes).
  if (num_terms > reader.remaining() / 4 || num_terms >= kNoTerm) {
    return corrupt("term count " + std::to_string(num_terms) + " exceeds the payload");
  }
  impl.vocab.Reserve(num_terms, 0);
  impl.lists.reserve(num_terms);
  for (uint64_t t = 0; t < num_terms; ++t) {
    uint64_t term_size = 0;
    std::string_view term;
    if (!GetVarint64(&reader, &term_size) || term_size > reader.remaining() ||
        !reader.ReadBytes(term_size, &term)) {
      return corrupt("truncated term " + std::to_string(t));
    }
    if (impl.vocab.FindOrInsert(term) != t) return corrupt("duplicate term " + std::to_string(t));
    uint64_t df = 0;
    if (!GetVarint64(&reader, &df)) return corrupt("truncated posting count of term " + std::to_string(t));
    if (df == 0 || df > num_docs || df > reader.remaining() / 2) {
      return corrupt("invalid posting count " + std::to_string(df) + " of term " +
                     std::to_string(t));
    }
    PostingList& list = impl.lists.emplace_back();
    list.postings.reserve(df);
    list.blocks.reserve((df + kBlockSize - 1) / kBlockSize);
    uint64_t next_expected = 0;
    for (uint64_t i = 0; i < df; ++i) {
      uint64_t gap = 0;
      float tf = 0.0f;
      if (!GetVarint64(&reader, &gap) || !GetValue(&reader, &tf)) {
        return corrupt("truncated posting of term " + std::to_string(t));
      }
      // next_expected <= num_docs holds: it is a valid slot + 1.
      if (gap >= num_docs - next_expected) {
        return corrupt("posting slot out of range in term " + std::to_string(t));
      }
      if (!IsPositiveFinite(tf)) return corrupt("invalid tf in term " + std::to_string(t));
      const uint32_t slot = static_cast<uint32_t>(next_expected + gap);
      list.Append(slot, tf, impl.slot_length[slot]);
      next_expected = uint64_t{slot} + 1;
    }
    list.live_df = static_cast<uint32_t>(df);
    impl.total_postings += df;
  }
  if (reader.remaining() != 0) {
    return corrupt(std::to_string(reader.remaining()) + " trailing bytes");
  }
  impl.live_terms = num_terms;
  impl.vocab.ShrinkToFit();
  impl.RebuildForward();
  return index;
}

}  // namespace quarry::index
