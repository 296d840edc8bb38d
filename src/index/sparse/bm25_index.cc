#include "index/sparse/bm25_index.h"

#include <algorithm>
#include <array>
#include <bit>
#include <utility>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <new>

#include "common/file_util.h"
#include "common/hash.h"

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
static_assert(kBlockSize == 128, "block encodings store in-block indexes in a byte");

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
// In-memory encodings (never persisted: the snapshot format is separate).
//
// Posting lists are cut into blocks of kBlockSize postings. A full block is
// sealed into a compact, patched frame-of-reference encoding ("sealed block");
// the list's last, partial block (its "tail") stays in an append-friendly
// varint encoding. Both encode each tf exactly: decoding gives back the very
// float that was added, so scores are bit-identical to unencoded postings.

// Host byte order: the encodings never leave memory.
inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline void Store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline uint32_t FloatBits(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return bits;
}
inline float BitsFloat(uint32_t bits) {
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}
inline uint32_t BitLength(uint32_t v) { return static_cast<uint32_t>(std::bit_width(v)); }

// Varints of trusted in-memory data.
inline size_t PutVarint(uint8_t* out, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = static_cast<uint8_t>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out[n++] = static_cast<uint8_t>(v);
  return n;
}
inline size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
inline uint64_t GetVarint(const uint8_t** p) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    const uint8_t b = *(*p)++;
    v |= uint64_t{b & 0x7Fu} << shift;
    if ((b & 0x80) == 0) return v;
  }
}

// --- Tail encoding: per posting varint((gap << 1) | (tf != 1)), where gap is
// the slot minus the previous posting's slot minus 1 (for a list's first
// posting: the slot itself; arithmetic wraps with "previous" = kEndSlot).
// With the low bit set a tf byte follows: 2..255 the integer tf, 0 an escape
// followed by the tf's float bits.
constexpr size_t kMaxTailPostingBytes = 5 + 1 + 4;

inline size_t EncodeTailPosting(uint32_t gap, float tf, uint8_t* out) {
  const bool one = tf == 1.0f;
  size_t n = PutVarint(out, (uint64_t{gap} << 1) | (one ? 0u : 1u));
  if (!one) {
    if (tf >= 2.0f && tf <= 255.0f && std::floor(tf) == tf) {
      out[n++] = static_cast<uint8_t>(tf);
    } else {
      out[n++] = 0;
      Store32(out + n, FloatBits(tf));
      n += 4;
    }
  }
  return n;
}

// Decodes the tail [p, end) whose first posting follows slot `prev`; returns
// the number of postings (at most kBlockSize).
inline uint32_t DecodeTail(const uint8_t* p, const uint8_t* end, uint32_t prev, uint32_t* slots,
                           float* tfs) {
  uint32_t n = 0;
  uint32_t slot = prev;
  while (p < end) {
    const uint64_t code = GetVarint(&p);
    slot = slot + 1 + static_cast<uint32_t>(code >> 1);
    float tf = 1.0f;
    if ((code & 1) != 0) {
      const uint8_t b = *p++;
      if (b != 0) {
        tf = static_cast<float>(b);
      } else {
        tf = BitsFloat(Load32(p));
        p += 4;
      }
    }
    slots[n] = slot;
    tfs[n] = tf;
    ++n;
  }
  return n;
}

// --- Sealed blocks (exactly kBlockSize postings; the first slot is kept in
// the block's metadata). Layout:
//   b u8 | bt u8 | ng u8 | nt u8
//   gaps (slot - previous slot - 1) of postings 1..127, then a 0: 128 values
//     of b bits, packed as below (16 * b bytes)
//   tf codes (tf - 1) of postings 0..127: 128 values of bt bits (16 * bt bytes)
//   ng gap exceptions: index u8, gap u32   (gaps that do not fit b bits)
//   nt tf exceptions: index u8, f32 bits   (tfs that are not integers 1..2^bt)
// b and bt are chosen per block to minimise the size; exceptions are sorted
// by index. The 128 values of a stream are packed "vertically" (as in Lemire
// and Boytsov's SIMD-BP128): value j sits in 32-bit lane j % 4 of 16-byte
// words, at bit (j / 4) * width of that lane's sequence of words, so 4 values
// unpack with one vector shift and mask. Words are in host byte order (the
// encoding never leaves memory).
constexpr size_t kExceptionBytes = 5;
constexpr uint32_t kMaxGapBits = 32;
constexpr uint32_t kMaxTfBits = 8;
constexpr size_t kMaxSealedBytes = 4 + 16 * kMaxGapBits + 16 * kMaxTfBits +
                                   (kBlockSize - 1) * kExceptionBytes +
                                   kBlockSize * kExceptionBytes;

// Packs kBlockSize values of `bits` bits (0..32); returns 16 * bits.
size_t PackVertical(const uint32_t* values, uint32_t bits, uint8_t* out) {
  if (bits == 0) return 0;
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  uint32_t words[kMaxGapBits * 4] = {};  // [word][lane]
  for (uint32_t j = 0; j < kBlockSize; ++j) {
    const uint32_t lane = j % 4;
    const uint32_t bit = (j / 4) * bits;
    const uint32_t word = bit / 32;
    const uint32_t shift = bit % 32;
    const uint64_t v = values[j] & mask;
    words[word * 4 + lane] |= static_cast<uint32_t>(v << shift);
    if (shift + bits > 32) words[(word + 1) * 4 + lane] |= static_cast<uint32_t>(v >> (32 - shift));
  }
  for (uint32_t i = 0; i < bits * 4; ++i) Store32(out + 4 * i, words[i]);
  return 16 * size_t{bits};
}

// Value j of a vertically packed stream.
inline uint32_t UnpackOne(const uint8_t* in, uint32_t bits, uint32_t j) {
  if (bits == 0) return 0;
  const uint32_t lane = j % 4;
  const uint32_t bit = (j / 4) * bits;
  const uint32_t word = bit / 32;
  const uint32_t shift = bit % 32;
  uint64_t v = Load32(in + 16 * word + 4 * lane) >> shift;
  if (shift + bits > 32) v |= uint64_t{Load32(in + 16 * (word + 1) + 4 * lane)} << (32 - shift);
  return static_cast<uint32_t>(v & ((uint64_t{1} << bits) - 1));
}

// Four 32-bit lanes (GCC/Clang vector extensions: SSE2 on x86-64, NEON on
// ARM, scalar code elsewhere).
using U32x4 = uint32_t __attribute__((vector_size(16)));
using I32x4 = int32_t __attribute__((vector_size(16)));
using F32x4 = float __attribute__((vector_size(16)));
inline U32x4 LoadU32x4(const void* p) {
  U32x4 v;
  std::memcpy(&v, p, 16);
  return v;
}
inline void StoreU32x4(void* p, U32x4 v) { std::memcpy(p, &v, 16); }

// Inclusive prefix sum of the 4 lanes.
inline U32x4 PrefixSum4(U32x4 x) {
  const U32x4 zero = {0, 0, 0, 0};
  x += __builtin_shufflevector(x, zero, 4, 0, 1, 2);
  x += __builtin_shufflevector(x, zero, 4, 5, 0, 1);
  return x;
}
inline U32x4 Broadcast3(U32x4 x) { return __builtin_shufflevector(x, x, 3, 3, 3, 3); }

template <uint32_t kBits, uint32_t kVector>
inline void UnpackVector(const uint8_t* in, uint32_t* out) {
  constexpr uint32_t kBit = kVector * kBits;
  constexpr uint32_t kWord = kBit / 32;
  constexpr uint32_t kShift = kBit % 32;
  constexpr uint32_t kMask = static_cast<uint32_t>((uint64_t{1} << kBits) - 1);
  U32x4 v = LoadU32x4(in + 16 * kWord) >> kShift;
  if constexpr (kShift + kBits > 32) v |= LoadU32x4(in + 16 * (kWord + 1)) << (32 - kShift);
  if constexpr (kBits < 32) v &= kMask;
  StoreU32x4(out + 4 * kVector, v);
}

template <uint32_t kBits, uint32_t... kVectors>
void UnpackVerticalImpl(const uint8_t* in, uint32_t* out,
                        std::integer_sequence<uint32_t, kVectors...>) {
  if constexpr (kBits == 0) {
    std::fill_n(out, kBlockSize, 0u);
  } else {
    (UnpackVector<kBits, kVectors>(in, out), ...);
  }
}

// Unpacks the kBlockSize values of a vertically packed stream.
template <uint32_t kBits>
void UnpackVertical(const uint8_t* in, uint32_t* out) {
  UnpackVerticalImpl<kBits>(in, out, std::make_integer_sequence<uint32_t, kBlockSize / 4>());
}

using UnpackFn = void (*)(const uint8_t*, uint32_t*);
template <uint32_t... kBits>
constexpr std::array<UnpackFn, sizeof...(kBits)> MakeUnpackers(
    std::integer_sequence<uint32_t, kBits...>) {
  return {&UnpackVertical<kBits>...};
}
constexpr std::array<UnpackFn, kMaxGapBits + 1> kUnpack =
    MakeUnpackers(std::make_integer_sequence<uint32_t, kMaxGapBits + 1>());

// True when tf is one of the integers 1..256 (tf code tf - 1 fits a byte).
inline bool IsSmallIntegerTf(float tf) {
  return tf >= 1.0f && tf <= 256.0f && std::floor(tf) == tf;
}

// Picks the width minimising values * width + exceptions * 40 bits, where
// lengths[w] counts the values needing w bits and `forced` values are
// exceptions whatever the width.
inline uint32_t ChooseWidth(const uint32_t* lengths, uint32_t max_width, size_t values,
                            size_t forced) {
  size_t exceptions = forced;
  size_t best_cost = std::numeric_limits<size_t>::max();
  uint32_t best = max_width;
  for (uint32_t w = max_width + 1; w-- > 0;) {
    const size_t cost = values * w + exceptions * 8 * kExceptionBytes;
    if (cost < best_cost) {
      best_cost = cost;
      best = w;
    }
    exceptions += lengths[w];
  }
  return best;
}

// Encodes kBlockSize postings (slots ascending); returns the bytes written.
size_t EncodeSealed(const uint32_t* slots, const float* tfs, uint8_t* out) {
  uint32_t gaps[kBlockSize];
  uint32_t gap_lengths[kMaxGapBits + 1] = {};
  for (size_t i = 0; i + 1 < kBlockSize; ++i) {
    gaps[i] = slots[i + 1] - slots[i] - 1;
    ++gap_lengths[BitLength(gaps[i])];
  }
  gaps[kBlockSize - 1] = 0;
  uint32_t codes[kBlockSize];
  uint32_t code_lengths[kMaxTfBits + 1] = {};
  size_t forced = 0;
  for (size_t i = 0; i < kBlockSize; ++i) {
    if (IsSmallIntegerTf(tfs[i])) {
      codes[i] = static_cast<uint32_t>(tfs[i]) - 1;
      ++code_lengths[BitLength(codes[i])];
    } else {
      codes[i] = kEndSlot;  // always an exception
      ++forced;
    }
  }
  const uint32_t b = ChooseWidth(gap_lengths, kMaxGapBits, kBlockSize - 1, 0);
  const uint32_t bt = ChooseWidth(code_lengths, kMaxTfBits, kBlockSize, forced);

  uint8_t gap_exceptions[(kBlockSize - 1) * kExceptionBytes];
  uint8_t tf_exceptions[kBlockSize * kExceptionBytes];
  size_t ng = 0;
  size_t nt = 0;
  for (size_t i = 0; i + 1 < kBlockSize; ++i) {
    if (b < 32 && (gaps[i] >> b) != 0) {
      gap_exceptions[ng * kExceptionBytes] = static_cast<uint8_t>(i);
      Store32(gap_exceptions + ng * kExceptionBytes + 1, gaps[i]);
      gaps[i] = 0;
      ++ng;
    }
  }
  for (size_t i = 0; i < kBlockSize; ++i) {
    if ((codes[i] >> bt) != 0) {
      tf_exceptions[nt * kExceptionBytes] = static_cast<uint8_t>(i);
      Store32(tf_exceptions + nt * kExceptionBytes + 1, FloatBits(tfs[i]));
      codes[i] = 0;
      ++nt;
    }
  }
  out[0] = static_cast<uint8_t>(b);
  out[1] = static_cast<uint8_t>(bt);
  out[2] = static_cast<uint8_t>(ng);
  out[3] = static_cast<uint8_t>(nt);
  size_t n = 4;
  n += PackVertical(gaps, b, out + n);
  n += PackVertical(codes, bt, out + n);
  std::memcpy(out + n, gap_exceptions, ng * kExceptionBytes);
  n += ng * kExceptionBytes;
  std::memcpy(out + n, tf_exceptions, nt * kExceptionBytes);
  n += nt * kExceptionBytes;
  return n;
}

// A sealed block's parsed header.
struct SealedView {
  uint32_t gap_bits;
  uint32_t tf_bits;
  uint32_t gap_exception_count;
  uint32_t tf_exception_count;
  const uint8_t* gaps;
  const uint8_t* tf_codes;
  const uint8_t* gap_exceptions;
  const uint8_t* tf_exceptions;

  explicit SealedView(const uint8_t* p)
      : gap_bits(p[0]),
        tf_bits(p[1]),
        gap_exception_count(p[2]),
        tf_exception_count(p[3]),
        gaps(p + 4),
        tf_codes(gaps + 16 * gap_bits),
        gap_exceptions(tf_codes + 16 * tf_bits),
        tf_exceptions(gap_exceptions + gap_exception_count * kExceptionBytes) {}

  // slots[0, kBlockSize] (the last one is junk).
  void DecodeSlots(uint32_t first_slot, uint32_t* slots) const {
    alignas(16) uint32_t values[kBlockSize];
    kUnpack[gap_bits](gaps, values);
    for (uint32_t e = 0; e < gap_exception_count; ++e) {
      const uint8_t* x = gap_exceptions + e * kExceptionBytes;
      values[x[0]] = Load32(x + 1);
    }
    // slots[i + 1] = slots[i] + gap[i] + 1: a prefix sum, 16 values at a
    // time (4 vectors summed locally, so that the carry from one group to
    // the next is a short dependency chain).
    slots[0] = first_slot;
    U32x4 carry = {first_slot, first_slot, first_slot, first_slot};
    for (uint32_t i = 0; i < kBlockSize; i += 16) {
      U32x4 a = PrefixSum4(LoadU32x4(values + i) + 1);
      U32x4 b = PrefixSum4(LoadU32x4(values + i + 4) + 1);
      U32x4 c = PrefixSum4(LoadU32x4(values + i + 8) + 1);
      U32x4 d = PrefixSum4(LoadU32x4(values + i + 12) + 1);
      b += Broadcast3(a);
      c += Broadcast3(b);
      d += Broadcast3(c);
      StoreU32x4(slots + 1 + i, a + carry);
      StoreU32x4(slots + 5 + i, b + carry);
      StoreU32x4(slots + 9 + i, c + carry);
      d += carry;
      StoreU32x4(slots + 13 + i, d);
      carry = Broadcast3(d);
    }
  }

  void DecodeTfs(float* tfs) const {
    alignas(16) uint32_t codes[kBlockSize];
    kUnpack[tf_bits](tf_codes, codes);
    for (uint32_t i = 0; i < kBlockSize; i += 4) {
      // Codes are at most 255: a signed conversion is exact (and one instruction).
      const F32x4 tf = __builtin_convertvector((I32x4)(LoadU32x4(codes + i) + 1), F32x4);
      std::memcpy(tfs + i, &tf, 16);
    }
    for (uint32_t e = 0; e < tf_exception_count; ++e) {
      const uint8_t* x = tf_exceptions + e * kExceptionBytes;
      tfs[x[0]] = BitsFloat(Load32(x + 1));
    }
  }

  float TfAt(uint32_t i) const {
    for (uint32_t e = 0; e < tf_exception_count; ++e) {  // ascending indexes
      const uint8_t* x = tf_exceptions + e * kExceptionBytes;
      if (x[0] == i) return BitsFloat(Load32(x + 1));
      if (x[0] > i) break;
    }
    return static_cast<float>(UnpackOne(tf_codes, tf_bits, i) + 1);
  }
};

// Sealed blocks of one list need not be adjacent in the arena (lists grow
// interleaved), so the hardware prefetcher does not follow a list: readers
// prefetch the next block when they decode one.
inline void PrefetchBlock(const uint8_t* p) {
  __builtin_prefetch(p);
  __builtin_prefetch(p + 64);
  __builtin_prefetch(p + 128);
  __builtin_prefetch(p + 192);
}

// REQUIRES: slots and tfs hold kBlockSize + 1 values.
void DecodeSealed(const uint8_t* p, uint32_t first_slot, uint32_t* slots, float* tfs) {
  const SealedView view(p);
  view.DecodeSlots(first_slot, slots);
  view.DecodeTfs(tfs);
}

// ---------------------------------------------------------------------------
// Arena: append-only storage in pages that never move (sealed blocks, the
// forward index).
class Arena {
 public:
  uint8_t* Allocate(size_t n) {
    if (n > capacity_ - used_) NewPage(n);
    uint8_t* p = pages_.back().get() + used_;
    used_ += n;
    return p;
  }

  void Clear() {
    pages_.clear();
    pages_.shrink_to_fit();
    used_ = capacity_ = allocated_ = 0;
    next_page_ = kFirstPage;
  }

  size_t MemoryBytes() const { return allocated_ + pages_.capacity() * sizeof(pages_[0]); }

 private:
  static constexpr size_t kFirstPage = size_t{4} << 10;
  static constexpr size_t kMaxPage = size_t{1} << 20;

  void NewPage(size_t n) {
    const size_t capacity = std::max(next_page_, n);
    next_page_ = std::min(next_page_ * 2, kMaxPage);
    pages_.push_back(std::make_unique_for_overwrite<uint8_t[]>(capacity));
    capacity_ = capacity;
    used_ = 0;
    allocated_ += capacity;
  }

  std::vector<std::unique_ptr<uint8_t[]>> pages_;
  size_t used_ = 0;
  size_t capacity_ = 0;
  size_t allocated_ = 0;
  size_t next_page_ = kFirstPage;
};

// ---------------------------------------------------------------------------
// Postings.

// Block b of a list covers its postings [b * kBlockSize, (b + 1) * kBlockSize).
// Its score bound is TermScore(weight, max_tf, norm(min_length)): BM25 grows
// with tf and shrinks with length, so this bounds every live posting of the
// block whatever idf and avgdl are at query time. min_length is taken over
// lengths when the postings were added, or over the postings live when the
// bound is computed (slots never come back to life; FLT_MAX when none is).
struct BlockMeta {
  uint32_t first_slot;
  uint32_t last_slot;
  float max_tf;
  float min_length;
  const uint8_t* data;  // sealed encoding; null for a tail
};

BlockMeta MakeMeta(const uint32_t* slots, const float* tfs, uint32_t n, const float* lengths) {
  BlockMeta meta{slots[0], slots[n - 1], tfs[0], std::numeric_limits<float>::max(), nullptr};
  for (uint32_t i = 0; i < n; ++i) {
    meta.max_tf = std::max(meta.max_tf, tfs[i]);
    const float length = lengths[slots[i]];
    if (length >= 0.0f) meta.min_length = std::min(meta.min_length, length);
  }
  return meta;
}

// One term's postings, ascending by slot: sealed blocks (bytes in the index's
// arena) and the tail, whose bytes live inline while they fit (most terms have
// a handful of postings) and otherwise in one heap buffer holding
// [BlockMeta x block_cap][tail bytes x tail_cap]. The metas are those of the
// sealed blocks and, when there are some and a tail, the tail's (kept up to
// date by Append), so that metas()[b] covers every block b.
class PostingList {
 public:
  uint32_t live_df = 0;  // postings whose slot is live

  PostingList() = default;
  PostingList(const PostingList&) = delete;
  PostingList& operator=(const PostingList&) = delete;
  PostingList(PostingList&& other) noexcept { TakeFrom(&other); }
  PostingList& operator=(PostingList&& other) noexcept {
    if (this != &other) {
      Release();
      TakeFrom(&other);
    }
    return *this;
  }
  ~PostingList() { Release(); }

  uint32_t size() const { return size_; }
  uint32_t num_sealed() const { return size_ / kBlockSize; }
  uint32_t tail_count() const { return size_ % kBlockSize; }
  // Blocks with a meta in metas(): every block once one is sealed.
  uint32_t stored_metas() const {
    const uint32_t sealed = num_sealed();
    return sealed + (sealed > 0 && tail_count() > 0 ? 1 : 0);
  }
  const BlockMeta* metas() const {
    return on_heap() ? reinterpret_cast<const BlockMeta*>(heap()) : nullptr;
  }
  const uint8_t* tail() const {
    return on_heap() ? heap() + block_cap_ * sizeof(BlockMeta) : store_;
  }
  uint32_t tail_bytes() const { return tail_bytes_; }
  // Slot before the tail's first posting (kEndSlot for none: decoding wraps).
  uint32_t tail_prev() const {
    const uint32_t n = num_sealed();
    return n == 0 ? kEndSlot : metas()[n - 1].last_slot;
  }

  // REQUIRES: slot greater than every slot in the list; lengths[slot] set.
  void Append(uint32_t slot, float tf, const float* lengths, Arena* arena) {
    uint8_t code[kMaxTailPostingBytes];
    const uint32_t prev = size_ == 0 ? kEndSlot : last_slot_;
    const size_t n = EncodeTailPosting(slot - prev - 1, tf, code);
    ReserveTail(tail_bytes_ + n);
    std::memcpy(mutable_tail() + tail_bytes_, code, n);
    tail_bytes_ = static_cast<uint16_t>(tail_bytes_ + n);
    last_slot_ = slot;
    const uint32_t block = size_ / kBlockSize;
    const bool starts_block = size_ % kBlockSize == 0;
    ++size_;
    if (block > 0) {  // the tail of a list with sealed blocks: keep its meta
      if (starts_block) {
        ReserveMetas(block + 1);
        const BlockMeta meta{slot, slot, tf, lengths[slot], nullptr};
        std::memcpy(heap() + block * sizeof(BlockMeta), &meta, sizeof(meta));
      } else {
        BlockMeta& meta = reinterpret_cast<BlockMeta*>(heap())[block];
        meta.last_slot = slot;
        meta.max_tf = std::max(meta.max_tf, tf);
        meta.min_length = std::min(meta.min_length, lengths[slot]);
      }
    }
    if (size_ % kBlockSize == 0) Seal(lengths, arena);
  }

  // Empties the list but keeps its heap buffer: a scratch list that builds
  // lists one after the other, each then copied out with ExactCopy().
  void ClearKeepingCapacity() {
    live_df = 0;
    size_ = 0;
    last_slot_ = 0;
    tail_bytes_ = 0;
  }

  // A copy with no spare capacity (its tail inline when it fits).
  PostingList ExactCopy() const {
    PostingList copy;
    copy.live_df = live_df;
    copy.size_ = size_;
    copy.last_slot_ = last_slot_;
    copy.tail_bytes_ = tail_bytes_;
    const uint32_t metas = stored_metas();
    if (metas == 0 && tail_bytes_ <= kInlineBytes) {
      std::memcpy(copy.store_, tail(), tail_bytes_);
    } else {
      copy.Reallocate(metas, tail_bytes_, 0, /*keep_tail=*/false);
      if (metas > 0) std::memcpy(copy.heap(), heap(), metas * sizeof(BlockMeta));
      std::memcpy(copy.heap() + metas * sizeof(BlockMeta), tail(), tail_bytes_);
    }
    return copy;
  }

  // Heap bytes, with an estimate of the allocator's per-block overhead.
  size_t HeapBytes() const {
    return on_heap() ? block_cap_ * sizeof(BlockMeta) + tail_cap_ + 16 : 0;
  }

 private:
  static constexpr size_t kInlineBytes = 12;

  bool on_heap() const { return block_cap_ != 0 || tail_cap_ != 0; }
  uint8_t* heap() const {
    uint8_t* p;
    std::memcpy(&p, store_, sizeof(p));
    return p;
  }
  uint8_t* mutable_tail() { return on_heap() ? heap() + block_cap_ * sizeof(BlockMeta) : store_; }

  void ReserveTail(size_t needed) {
    const size_t capacity = on_heap() ? tail_cap_ : kInlineBytes;
    if (needed <= capacity) return;
    const size_t grown = std::max({needed, capacity + capacity / 2, size_t{24}});
    Reallocate(block_cap_, static_cast<uint32_t>(std::min<size_t>(grown, UINT16_MAX)),
               stored_metas());
  }

  // REQUIRES: the metas before the last of `needed` are stored.
  void ReserveMetas(uint32_t needed) {
    if (needed <= block_cap_) return;
    Reallocate(std::max(needed, block_cap_ * 2), tail_cap_, needed - 1);
  }

  // Moves to a heap buffer for block_cap metas and tail_cap tail bytes,
  // keeping the first `metas` metas and (unless told not to) the tail.
  void Reallocate(uint32_t block_cap, uint32_t tail_cap, uint32_t metas, bool keep_tail = true) {
    const size_t bytes = size_t{block_cap} * sizeof(BlockMeta) + tail_cap;
    auto* buffer = static_cast<uint8_t*>(std::malloc(bytes));
    if (buffer == nullptr) throw std::bad_alloc();
    if (metas > 0) std::memcpy(buffer, heap(), metas * sizeof(BlockMeta));
    if (keep_tail) std::memcpy(buffer + size_t{block_cap} * sizeof(BlockMeta), tail(), tail_bytes_);
    if (on_heap()) std::free(heap());
    block_cap_ = block_cap;
    tail_cap_ = static_cast<uint16_t>(tail_cap);
    std::memcpy(store_, &buffer, sizeof(buffer));
  }

  // Turns the tail, now kBlockSize postings, into a sealed block.
  void Seal(const float* lengths, Arena* arena) {
    const uint32_t index = size_ / kBlockSize - 1;
    const uint32_t prev = index == 0 ? kEndSlot : metas()[index - 1].last_slot;
    uint32_t slots[kBlockSize];
    float tfs[kBlockSize];
    DecodeTail(tail(), tail() + tail_bytes_, prev, slots, tfs);
    BlockMeta meta;
    if (index == 0) {  // the first block had no meta yet
      meta = MakeMeta(slots, tfs, kBlockSize, lengths);
      ReserveMetas(1);
    } else {
      meta = metas()[index];
    }
    uint8_t encoded[kMaxSealedBytes];
    const size_t n = EncodeSealed(slots, tfs, encoded);
    uint8_t* data = arena->Allocate(n);
    std::memcpy(data, encoded, n);
    meta.data = data;
    tail_bytes_ = 0;
    std::memcpy(heap() + index * sizeof(BlockMeta), &meta, sizeof(meta));
  }

  void Release() {
    if (on_heap()) std::free(heap());
    block_cap_ = 0;
    tail_cap_ = 0;
  }

  void TakeFrom(PostingList* other) {
    live_df = other->live_df;
    size_ = other->size_;
    last_slot_ = other->last_slot_;
    block_cap_ = other->block_cap_;
    tail_bytes_ = other->tail_bytes_;
    tail_cap_ = other->tail_cap_;
    std::memcpy(store_, other->store_, kInlineBytes);
    other->live_df = 0;
    other->size_ = 0;
    other->block_cap_ = 0;
    other->tail_bytes_ = 0;
    other->tail_cap_ = 0;
  }

  uint32_t size_ = 0;       // postings, tombstoned ones included
  uint32_t last_slot_ = 0;  // of the last posting
  uint32_t block_cap_ = 0;  // heap: capacity for metas
  uint16_t tail_bytes_ = 0;
  uint16_t tail_cap_ = 0;   // heap: capacity for tail bytes
  uint8_t store_[kInlineBytes] = {};  // the tail inline, or the heap buffer pointer
};
static_assert(sizeof(PostingList) == 32);
// The longest tail: kBlockSize postings of kMaxTailPostingBytes.
static_assert(kBlockSize * kMaxTailPostingBytes <= UINT16_MAX);

// Calls fn(slots, tfs, n) for every block of `list`, in order.
template <typename Fn>
void ForEachBlock(const PostingList& list, Fn&& fn) {
  uint32_t slots[kBlockSize + 1];
  float tfs[kBlockSize];
  const BlockMeta* metas = list.metas();
  for (uint32_t b = 0; b < list.num_sealed(); ++b) {
    if (b + 1 < list.num_sealed()) PrefetchBlock(metas[b + 1].data);
    DecodeSealed(metas[b].data, metas[b].first_slot, slots, tfs);
    fn(static_cast<const uint32_t*>(slots), static_cast<const float*>(tfs), uint32_t{kBlockSize});
  }
  if (list.tail_count() > 0) {
    const uint32_t n =
        DecodeTail(list.tail(), list.tail() + list.tail_bytes(), list.tail_prev(), slots, tfs);
    fn(static_cast<const uint32_t*>(slots), static_cast<const float*>(tfs), n);
  }
}

// ---------------------------------------------------------------------------
// Point id -> slot of live documents: open addressing (linear probing) over
// slots, the keys read from slot_point.
inline uint64_t MixPoint(uint64_t x) { return Mix64(x); }

class PointTable {
 public:
  uint32_t Find(uint64_t point, const std::vector<uint64_t>& slot_point) const {
    if (table_.empty()) return kEndSlot;
    const size_t mask = table_.size() - 1;
    for (size_t pos = MixPoint(point) & mask;; pos = (pos + 1) & mask) {
      const uint32_t slot = table_[pos];
      if (slot == kEndSlot || slot_point[slot] == point) return slot;
    }
  }

  // REQUIRES: point absent and slot_point[slot] == point.
  void Insert(uint64_t point, uint32_t slot, const std::vector<uint64_t>& slot_point) {
    if ((size_ + 1) * 4 > table_.size() * 3) {
      Resize(std::max<size_t>(16, table_.size() * 2), slot_point);
    }
    Place(point, slot);
    ++size_;
  }

  // Removes `point`; returns its slot (kEndSlot when absent).
  uint32_t Erase(uint64_t point, const std::vector<uint64_t>& slot_point) {
    if (table_.empty()) return kEndSlot;
    const size_t mask = table_.size() - 1;
    size_t hole = MixPoint(point) & mask;
    for (;; hole = (hole + 1) & mask) {
      if (table_[hole] == kEndSlot) return kEndSlot;
      if (slot_point[table_[hole]] == point) break;
    }
    const uint32_t slot = table_[hole];
    // Backward-shift deletion: move up every later entry of the run that may
    // sit in the hole (its home is not within (hole, pos]).
    for (size_t pos = (hole + 1) & mask; table_[pos] != kEndSlot; pos = (pos + 1) & mask) {
      const size_t home = MixPoint(slot_point[table_[pos]]) & mask;
      if (((pos - home) & mask) >= ((pos - hole) & mask)) {
        table_[hole] = table_[pos];
        hole = pos;
      }
    }
    table_[hole] = kEndSlot;
    --size_;
    return slot;
  }

  // Empties the table, sized for `expected` entries.
  void Reset(size_t expected) {
    size_t capacity = 16;
    while (capacity * 3 < expected * 4) capacity *= 2;
    table_.assign(capacity, kEndSlot);
    table_.shrink_to_fit();
    size_ = 0;
  }

  size_t MemoryBytes() const { return table_.capacity() * sizeof(uint32_t); }

 private:
  void Place(uint64_t point, uint32_t slot) {
    const size_t mask = table_.size() - 1;
    size_t pos = MixPoint(point) & mask;
    while (table_[pos] != kEndSlot) pos = (pos + 1) & mask;
    table_[pos] = slot;
  }

  void Resize(size_t capacity, const std::vector<uint64_t>& slot_point) {
    std::vector<uint32_t> old(capacity, kEndSlot);
    table_.swap(old);
    for (uint32_t slot : old) {
      if (slot != kEndSlot) Place(slot_point[slot], slot);
    }
  }

  std::vector<uint32_t> table_;  // slots; kEndSlot = empty; size a power of two, load <= 3/4
  size_t size_ = 0;
};

// ---------------------------------------------------------------------------
// Forward index: slot -> its term ids (ascending), used to update live
// document frequencies on Remove. Per slot: varint(byte length), then the
// term ids as varint deltas. Slots are grouped by kForwardGroup; a complete
// group is moved into the arena, the last one is built in `pending_`.
class ForwardIndex {
 public:
  static constexpr uint32_t kForwardGroup = 64;

  // Appends the next slot's terms (ascending).
  void Append(const uint32_t* terms, size_t n) {
    size_t body = 0;
    for (size_t i = 0; i < n; ++i) body += VarintSize(i == 0 ? terms[0] : terms[i] - terms[i - 1]);
    const size_t start = pending_.size();
    pending_.resize(start + VarintSize(body) + body);
    uint8_t* out = pending_.data() + start;
    out += PutVarint(out, body);
    for (size_t i = 0; i < n; ++i) {
      out += PutVarint(out, i == 0 ? terms[0] : terms[i] - terms[i - 1]);
    }
    if (++pending_slots_ == kForwardGroup) {
      uint8_t* group = arena_.Allocate(pending_.size());
      std::memcpy(group, pending_.data(), pending_.size());
      groups_.push_back(group);
      pending_.clear();
      pending_slots_ = 0;
    }
  }

  template <typename Fn>
  void ForEachTerm(uint32_t slot, Fn&& fn) const {
    const size_t group = slot / kForwardGroup;
    const uint8_t* p = group < groups_.size() ? groups_[group] : pending_.data();
    for (uint32_t i = slot % kForwardGroup; i > 0; --i) {
      const uint64_t length = GetVarint(&p);
      p += length;
    }
    const uint64_t length = GetVarint(&p);
    const uint8_t* const end = p + length;
    uint32_t term = 0;
    for (bool first = true; p < end; first = false) {
      const uint32_t delta = static_cast<uint32_t>(GetVarint(&p));
      term = first ? delta : term + delta;
      fn(term);
    }
  }

  void Clear() {
    arena_.Clear();
    groups_.clear();
    groups_.shrink_to_fit();
    pending_.clear();
    pending_slots_ = 0;
  }

  size_t MemoryBytes() const {
    return arena_.MemoryBytes() + groups_.capacity() * sizeof(groups_[0]) + pending_.capacity();
  }

 private:
  Arena arena_;
  std::vector<const uint8_t*> groups_;
  std::vector<uint8_t> pending_;
  uint32_t pending_slots_ = 0;
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


// One query term's posting list, walked forward only. A block is decoded into
// the cursor when it is entered (its slots at once, its tfs when a window is
// scored, else one at a time); a position at the start of a block that is not
// decoded has that block's first_slot.
struct TermCursor {
  const BlockMeta* metas = nullptr;  // of every block
  const uint8_t* tail = nullptr;
  uint32_t tail_bytes = 0;
  uint32_t tail_prev = kEndSlot;
  uint32_t num_sealed = 0;
  uint32_t num_blocks = 0;
  uint32_t size = 0;
  uint32_t pos = 0;    // postings before pos have slots below every later target
  uint32_t block = 0;  // first block that overlaps the current window
  uint32_t window_blocks = 0;  // blocks overlapping the current window
  uint32_t probe_block = 0;    // block of the last BoundAt() slot
  float weight = 0.0f;
  float window_bound = 0.0f;  // inflated bound over the current window
  bool in_window = false;     // window_blocks > 0
  BlockMeta tail_meta{};      // a list with no sealed block: its only meta
  float block_bounds[kMaxWindowBlocks];  // inflated, of blocks [block, block + window_blocks)

  uint32_t decoded = kEndSlot;  // the block held in slots (and tfs when tfs_ready)
  uint32_t decoded_count = 0;
  bool tfs_ready = false;
  const uint8_t* decoded_data = nullptr;  // sealed encoding of `decoded`
  alignas(16) uint32_t slots[kBlockSize + 1];
  alignas(16) float tfs[kBlockSize];

  void Init(const PostingList& list, float term_weight, const float* lengths) {
    tail = list.tail();
    tail_bytes = list.tail_bytes();
    tail_prev = list.tail_prev();
    num_sealed = list.num_sealed();
    num_blocks = num_sealed + (list.tail_count() > 0 ? 1 : 0);
    size = list.size();
    weight = term_weight;
    if (num_sealed > 0) {
      metas = list.metas();
    } else {
      Enter(0);
      tail_meta = MakeMeta(slots, tfs, decoded_count, lengths);
      metas = &tail_meta;
    }
  }

  // Makes block b the decoded one, its slots decoded.
  void Enter(uint32_t b) {
    decoded = b;
    if (b < num_sealed) {
      if (b + 1 < num_sealed) PrefetchBlock(metas[b + 1].data);
      decoded_data = metas[b].data;
      SealedView(decoded_data).DecodeSlots(metas[b].first_slot, slots);
      decoded_count = kBlockSize;
      tfs_ready = false;
    } else {
      decoded_count = DecodeTail(tail, tail + tail_bytes, tail_prev, slots, tfs);
      tfs_ready = true;
    }
  }

  // Decodes the tfs of the decoded block.
  void DecodeTfs() {
    if (tfs_ready) return;
    SealedView(decoded_data).DecodeTfs(tfs);
    tfs_ready = true;
  }

  uint32_t Slot() const {
    if (pos >= size) return kEndSlot;
    const uint32_t b = pos / kBlockSize;
    return b == decoded ? slots[pos % kBlockSize] : metas[b].first_slot;
  }

  // REQUIRES: pos < size.
  float Tf() {
    const uint32_t b = pos / kBlockSize;
    if (b != decoded) Enter(b);
    const uint32_t i = pos % kBlockSize;
    return tfs_ready ? tfs[i] : SealedView(decoded_data).TfAt(i);
  }

  // Computes the bounds of the blocks overlapping the slots [begin, end),
  // begin not below the previous window's end.
  void BoundWindow(uint32_t begin, uint32_t end, const LengthNorm& norm, float inflation) {
    while (block < num_blocks && metas[block].last_slot < begin) ++block;
    float bound = 0.0f;
    uint32_t b = block;
    for (; b < num_blocks && metas[b].first_slot < end; ++b) {
      const BlockMeta& meta = metas[b];
      const float block_bound = inflation * TermScore(weight, meta.max_tf, norm(meta.min_length));
      block_bounds[b - block] = block_bound;
      if (b < num_sealed) __builtin_prefetch(meta.data);  // probes may enter it
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
    while (probe_block < window_end && metas[probe_block].last_slot < slot) ++probe_block;
    return probe_block < window_end ? block_bounds[probe_block - block] : 0.0f;
  }

  // Moves to the first posting with slot >= target (to size when none).
  void AdvanceTo(uint32_t target) {
    if (Slot() >= target) return;  // also when exhausted
    const uint32_t current = pos / kBlockSize;
    uint32_t b = current;
    if (block > b && metas[block - 1].last_slot < target) b = block;
    if (probe_block > b && metas[probe_block - 1].last_slot < target) b = probe_block;
    while (b < num_blocks && metas[b].last_slot < target) ++b;
    if (b >= num_blocks) {
      pos = size;
      return;
    }
    uint32_t start = 0;
    if (b == current) {
      start = pos % kBlockSize;
    } else if (metas[b].first_slot >= target) {
      pos = b * kBlockSize;
      return;
    }
    if (b != decoded) Enter(b);
    // slots[start] < target <= slots[decoded_count - 1]. Short moves are the
    // common case: gallop from start, then bisect (branch-free) the last step.
    const uint32_t* lo = slots + start;
    const uint32_t* last = slots + decoded_count;
    size_t step = 1;
    for (; step < static_cast<size_t>(last - lo) && lo[step] < target; step *= 2) lo += step;
    // Now *lo < target, and the answer lies in (lo, lo + min(step, last - 1 - lo)].
    const uint32_t* first = lo + 1;
    size_t n = std::min(step, static_cast<size_t>(last - first));
    while (n > 1) {
      const size_t half = n / 2;
      first = first[half - 1] < target ? first + half : first;
      n -= half;
    }
    if (*first < target) ++first;
    pos = b * kBlockSize + static_cast<uint32_t>(first - slots);
  }
};

}  // namespace

// ---------------------------------------------------------------------------

struct Bm25Index::Impl {
  Vocabulary vocab;
  std::vector<PostingList> lists;    // by term id
  Arena blocks;                      // sealed blocks of every list
  std::vector<uint64_t> slot_point;  // slot -> point id
  std::vector<float> slot_length;    // slot -> length; negative = tombstone
  ForwardIndex forward;              // slot -> term ids, for Remove
  PointTable point_slot;             // live documents only

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

  std::vector<TermCursor> MakeCursors(const std::vector<QueryTerm>& terms) const {
    std::vector<TermCursor> cursors(terms.size());
    for (size_t i = 0; i < terms.size(); ++i) {
      cursors[i].Init(lists[terms[i].term_id], terms[i].weight, slot_length.data());
    }
    return cursors;
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
    std::vector<TermCursor> cursors = MakeCursors(terms);
    // rest[i]: summed window bounds of terms i..m-1.
    std::vector<float> rest(m + 1, 0.0f);
    // block_rest[i]: the same with the bounds of the blocks holding one slot.
    std::vector<float> block_rest(m + 1, 0.0f);
    const uint32_t slots = static_cast<uint32_t>(num_slots());
    std::vector<float> acc(std::min<uint32_t>(kMaxWindow, slots), 0.0f);
    std::vector<uint64_t> hits((acc.size() + 63) / 64, 0);
    const float* lengths = slot_length.data();
    // Lengths beyond what a core's cache holds: prefetch them (see below).
    const bool prefetch_lengths = slots > (uint32_t{1} << 18);

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

      // Score the essential terms into the accumulator, a decoded block at a time.
      for (size_t i = 0; i < essential; ++i) {
        TermCursor& c = cursors[i];
        if (!c.in_window) continue;
        c.AdvanceTo(begin);
        const float weight = c.weight;
        while (c.pos < c.size) {
          const uint32_t b = c.pos / kBlockSize;
          if (b != c.decoded) {
            if (c.metas[b].first_slot >= end) break;
            c.Enter(b);
            // Sparse postings in a large index: the lengths of the block's
            // documents are likely cache misses each; overlap them.
            const BlockMeta& meta = c.metas[b];
            if (prefetch_lengths && meta.last_slot - meta.first_slot >= 16 * kBlockSize) {
              for (uint32_t j = 0; j < c.decoded_count; ++j) {
                __builtin_prefetch(lengths + c.slots[j]);
              }
            }
          }
          c.DecodeTfs();
          const uint32_t n = c.decoded_count;
          const uint32_t* block_slots = c.slots;
          const float* block_tfs = c.tfs;
          uint32_t j = c.pos % kBlockSize;
          for (; j < n && block_slots[j] < end; ++j) {
            const uint32_t slot = block_slots[j];
            const float length = lengths[slot];
            if (length < 0.0f) continue;  // tombstone
            const uint32_t offset = slot - begin;
            acc[offset] += TermScore(weight, block_tfs[j], norm(length));
            hits[offset / 64] |= uint64_t{1} << (offset % 64);
          }
          c.pos = b * static_cast<uint32_t>(kBlockSize) + j;
          if (j < n) break;
        }
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
            if (c.Slot() == slot) score += TermScore(c.weight, c.Tf(), doc_norm);
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

  // Top k among `candidates`, each scored alone: visited in slot order so each
  // term's cursor only moves forward, contributions added in canonical order
  // from 0 as the other paths add them, so the scores are bit-identical.
  std::vector<ScoredPoint> CandidateTopK(const std::vector<QueryTerm>& terms, LengthNorm norm,
                                         size_t k, const Bm25Filter& filter) const {
    std::vector<uint32_t> candidate_slots;
    candidate_slots.reserve(filter.candidates->size());
    for (uint64_t point_id : *filter.candidates) {
      const uint32_t slot = point_slot.Find(point_id, slot_point);
      if (slot != kEndSlot) candidate_slots.push_back(slot);
    }
    std::sort(candidate_slots.begin(), candidate_slots.end());
    std::vector<TermCursor> cursors = MakeCursors(terms);
    TopK top(k, candidate_slots.size());
    for (uint32_t slot : candidate_slots) {
      const float doc_norm = norm(slot_length[slot]);
      float score = 0.0f;
      bool matched = false;
      for (TermCursor& c : cursors) {
        c.AdvanceTo(slot);
        if (c.Slot() != slot) continue;
        score += TermScore(c.weight, c.Tf(), doc_norm);
        matched = true;
      }
      if (!matched || score < top.threshold()) continue;
      const uint64_t point_id = slot_point[slot];
      if (filter.accept != nullptr && !(*filter.accept)(point_id)) continue;
      top.Push(score, point_id);
    }
    return top.Take();
  }

  // Rebuilds the forward index from the posting lists (term ids ascending).
  // Slots are done in ranges of about kRangePostings postings, each list
  // resuming where the previous range stopped, so that the transient memory
  // stays small (freed temporaries would otherwise linger in the heap).
  void RebuildForward() {
    constexpr uint64_t kRangePostings = uint64_t{1} << 18;
    forward.Clear();
    const uint64_t slots = num_slots();
    if (slots == 0) return;
    const uint64_t range = std::max<uint64_t>(
        256, slots * kRangePostings / std::max<uint64_t>(total_postings, 1));
    // Per list: the next block to read, and a lower bound of its next slot.
    std::vector<uint32_t> next_block(lists.size(), 0);
    std::vector<uint32_t> next_slot(lists.size(), 0);
    std::vector<std::pair<uint32_t, uint32_t>> entries;  // (slot - range start, term)
    entries.reserve(kRangePostings + kRangePostings / 4);
    std::vector<uint32_t> start;
    std::vector<uint32_t> terms;
    uint32_t block_slots[kBlockSize + 1];
    float block_tfs[kBlockSize];
    for (uint64_t s0 = 0; s0 < slots; s0 += range) {
      const uint32_t s1 = static_cast<uint32_t>(std::min(slots, s0 + range));
      entries.clear();
      for (uint32_t t = 0; t < lists.size(); ++t) {
        if (next_slot[t] >= s1) continue;
        const PostingList& list = lists[t];
        const uint32_t num_sealed = list.num_sealed();
        const uint32_t num_blocks = num_sealed + (list.tail_count() > 0 ? 1 : 0);
        uint32_t b = next_block[t];
        for (; b < num_blocks; ++b) {
          uint32_t n = kBlockSize;
          if (b < num_sealed) {
            const BlockMeta& meta = list.metas()[b];
            DecodeSealed(meta.data, meta.first_slot, block_slots, block_tfs);
          } else {
            n = DecodeTail(list.tail(), list.tail() + list.tail_bytes(), list.tail_prev(),
                           block_slots, block_tfs);
          }
          uint32_t j = 0;
          for (; j < n && block_slots[j] < s0; ++j) {
          }
          for (; j < n && block_slots[j] < s1; ++j) {
            entries.emplace_back(block_slots[j] - static_cast<uint32_t>(s0), t);
          }
          if (j < n) {  // the next range resumes in this block
            next_slot[t] = block_slots[j];
            break;
          }
          if (b + 1 < num_sealed && list.metas()[b + 1].first_slot >= s1) {
            next_slot[t] = list.metas()[b + 1].first_slot;
            ++b;
            break;
          }
        }
        next_block[t] = b;
        if (b >= num_blocks) next_slot[t] = kEndSlot;
      }
      // Counting sort by slot; stable, so each slot's terms stay ascending.
      start.assign(s1 - s0 + 1, 0);
      for (const auto& entry : entries) ++start[entry.first + 1];
      for (size_t s = 0; s + 1 < start.size(); ++s) start[s + 1] += start[s];
      terms.resize(entries.size());
      for (const auto& entry : entries) terms[start[entry.first]++] = entry.second;
      // start[s] is now the end of slot s's terms.
      uint32_t begin = 0;
      for (uint32_t s = 0; s < s1 - s0; ++s) {
        forward.Append(terms.data() + begin, start[s] - begin);
        begin = start[s];
      }
    }
  }

  void RebuildPointMap() {
    point_slot.Reset(live_docs);
    for (uint32_t s = 0; s < num_slots(); ++s) {
      if (IsLive(s)) point_slot.Insert(slot_point[s], s, slot_point);
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
  if (impl.point_slot.Find(point_id, impl.slot_point) != kEndSlot) Remove(point_id);
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
  impl.slot_point.push_back(point_id);
  impl.slot_length.push_back(length);
  std::vector<uint32_t> term_ids;
  term_ids.reserve(doc_terms.size());
  for (const auto& [term, tf] : doc_terms) {
    PostingList& list = impl.lists[term];
    list.Append(slot, tf, impl.slot_length.data(), &impl.blocks);
    if (list.live_df++ == 0) ++impl.live_terms;
    term_ids.push_back(term);
  }
  impl.total_postings += doc_terms.size();
  impl.forward.Append(term_ids.data(), term_ids.size());
  impl.point_slot.Insert(point_id, slot, impl.slot_point);
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
  const uint32_t slot = impl.point_slot.Erase(point_id, impl.slot_point);
  if (slot == kEndSlot) return false;
  impl.forward.ForEachTerm(slot, [&impl](uint32_t term) {
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

bool Bm25Index::Contains(uint64_t point_id) const {
  return impl_->point_slot.Find(point_id, impl_->slot_point) != kEndSlot;
}

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
    // Scoring a candidate costs a cursor move per term; MaxScore costs up to
    // every posting of the query. Score the candidates when they are few.
    uint64_t postings = 0;
    for (const QueryTerm& term : terms) postings += impl.lists[term.term_id].size();
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
    ForEachBlock(impl.lists[term.term_id],
                 [&](const uint32_t* slots, const float* tfs, uint32_t n) {
                   for (uint32_t j = 0; j < n; ++j) {
                     const uint32_t slot = slots[j];
                     const float length = impl.slot_length[slot];
                     if (length < 0.0f) continue;
                     if (!seen[slot]) {
                       seen[slot] = 1;
                       touched.push_back(slot);
                     }
                     scores[slot] += TermScore(term.weight, tfs[j], norm(length));
                   }
                 });
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
  for (const PostingList& list : impl.lists) bytes += list.HeapBytes();
  bytes += impl.blocks.MemoryBytes();
  bytes += impl.slot_point.capacity() * sizeof(uint64_t);
  bytes += impl.slot_length.capacity() * sizeof(float);
  bytes += impl.forward.MemoryBytes();
  bytes += impl.point_slot.MemoryBytes();
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
  Arena blocks;
  uint64_t total_postings = 0;
  PostingList scratch;
  for (uint32_t t = 0; t < impl.lists.size(); ++t) {
    const PostingList& old_list = impl.lists[t];
    if (old_list.live_df == 0) continue;
    vocab.FindOrInsert(impl.vocab.Term(t));
    scratch.ClearKeepingCapacity();
    ForEachBlock(old_list, [&](const uint32_t* slots, const float* tfs, uint32_t n) {
      for (uint32_t j = 0; j < n; ++j) {
        const uint32_t slot = remap[slots[j]];
        if (slot != kEndSlot) scratch.Append(slot, tfs[j], slot_length.data(), &blocks);
      }
    });
    scratch.live_df = scratch.size();
    total_postings += scratch.size();
    lists.push_back(scratch.ExactCopy());
  }
  vocab.ShrinkToFit();

  impl.vocab = std::move(vocab);
  impl.lists = std::move(lists);
  impl.blocks = std::move(blocks);  // frees the old blocks after the lists using them
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
// deserialized index has no tombstones. The in-memory block encodings are
// independent of this format.
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
    ForEachBlock(list, [&](const uint32_t* slots, const float* tfs, uint32_t n) {
      for (uint32_t j = 0; j < n; ++j) {
        const uint32_t slot = remap[slots[j]];
        if (slot == kEndSlot) continue;
        PutVarint64(&out, slot - next_expected);
        next_expected = uint64_t{slot} + 1;
        PutValue(&out, tfs[j]);
      }
    });
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
  impl.point_slot.Reset(num_docs);
  for (uint64_t d = 0; d < num_docs; ++d) {
    uint64_t point_id = 0;
    float length = 0.0f;
    if (!GetVarint64(&reader, &point_id) || !GetValue(&reader, &length)) {
      return corrupt("truncated or malformed document " + std::to_string(d));
    }
    if (!IsPositiveFinite(length)) return corrupt("invalid length of document " + std::to_string(d));
    if (impl.point_slot.Find(point_id, impl.slot_point) != kEndSlot) {
      return corrupt("duplicate point id " + std::to_string(point_id));
    }
    impl.slot_point.push_back(point_id);
    impl.slot_length.push_back(length);
    impl.point_slot.Insert(point_id, static_cast<uint32_t>(d), impl.slot_point);
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
  PostingList scratch;  // builds each list, then copied out exactly
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
    scratch.ClearKeepingCapacity();
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
      scratch.Append(slot, tf, impl.slot_length.data(), &impl.blocks);
      next_expected = uint64_t{slot} + 1;
    }
    scratch.live_df = static_cast<uint32_t>(df);
    impl.lists.push_back(scratch.ExactCopy());
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
