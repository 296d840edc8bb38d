// DenseIndex implementation: HnswGraph (hnsw.h) over codes from a
// VectorCodec (codec.h), exact rescoring against float originals.
//
// Storage per slot (slots are dense 32-bit numbers handed out in insertion
// order; an update or a removal leaves a tombstone until Compact):
//   codes_      code_size bytes, the graph walks on these
//   originals   the vector encoded by a float32 codec of the same metric
//               (normalised for cosine), used for rescoring and exact scans;
//               absent for kFloat32, whose codes are already exact. Heap while
//               building; after Load, the saved ones are mmap'd read-only
//               (MAP_SHARED, MADV_RANDOM) and new ones go to the heap.
//   slot_ids_   the caller's id;  ready_  1 once the vector is written.
// The id -> slot map is an open-addressing table (12 bytes per entry).
// Compact() renumbers slots densely and moves every original to the heap
// (a loaded index's mapping is dropped; the next Save writes them back).
//
// Memory per vector after Load (M = 16, int8, 384-d): code 384 B, layer-0
// links 132 B, levels/tombstone/upper pointer 10 B, upper links ~5 B, id 8 B,
// ready flag 1 B, id map ~25 B: about 565 B, plus the mapped originals, which
// are file-backed: pages touched by rescoring count in VmRSS (as RssFile,
// clean and reclaimable), never as anonymous memory.
//
// Training (kInt8, kBinary): Train() learns the range and mean (int8) or the
// per-dimension thresholds (binary). Without it, Add() buffers
// vectors (Search answers them exactly) until options.train_sample vectors
// were added; AddBatch() trains on its first train_sample rows (plus any
// buffered ones). Training later than the first Add re-encodes every code;
// the graph is kept.
//
// Filters: a filter is "very selective" when a sample of up to 256 live
// slots suggests that fewer than 2% of the live vectors, or fewer than
// max(4·ef, 500) of them, pass it. The graph walk must visit about
// ef / selectivity nodes to collect ef allowed ones, so below that an exact
// scan of all ids is cheaper, and it is exact. Such searches scan. A graph
// walk that still finds fewer than k allowed hits is also answered by a scan.
//
// Concurrency: Add/Remove/Search hold a shared "growth" lock; growing the
// arrays, training, Compact and Save hold it exclusively (writer-preferring,
// so a stream of searches cannot starve growth). The id map has its own
// mutex; the graph locks its link lists itself.
//
// Files in the snapshot directory (little-endian):
//   dense.idx   64-byte header, then the payload: options, codec params,
//               slot ids, pending slots, the serialised graph, the codes.
//   dense.orig  4096-byte header, then slot_count · dim floats (page
//               aligned so Load can map them). Absent for kFloat32.
// Header: magic "QRYDENS1", kind u32 (1 idx, 2 orig), version u32, seq u64,
// payload length u64, payload CRC-32C u32, reserved u32, slot count u64,
// dim u64, header CRC-32C u32 (over the 56 bytes before it), zero padding.
#include "index/dense/dense_index.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>

#include "common/crc32c.h"
#include "common/file_util.h"
#include "common/hash.h"
#include "common/large_array.h"
#include "index/dense/hnsw.h"

namespace quarry::index::dense {
namespace {

constexpr char kMagic[8] = {'Q', 'R', 'Y', 'D', 'E', 'N', 'S', '1'};
constexpr uint32_t kKindIndex = 1;
constexpr uint32_t kKindOriginals = 2;
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderSize = 64;
constexpr size_t kOriginalsHeaderSize = 4096;
constexpr const char* kIndexFile = "dense.idx";
constexpr const char* kOriginalsFile = "dense.orig";
constexpr size_t kMaxDim = 1 << 16;
constexpr size_t kFilterSample = 256;
constexpr double kExactFilterSelectivity = 0.02;
// A read of a mapped original slower than this came from disk (a page-cache
// hit, even a minor fault, takes a few microseconds).
constexpr std::chrono::microseconds kColdReadThreshold{20};

// --- small RAII helpers ------------------------------------------------------

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = other.Release();
    }
    return *this;
  }
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// A read-only MAP_SHARED mapping of a whole file.
class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile() { Reset(); }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  Status Map(int fd, size_t size, const std::string& name) {
    Reset();
    if (size == 0) return Status::OK();
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return ErrnoStatus("cannot mmap " + name, errno);
    data_ = static_cast<const char*>(p);
    size_ = size;
    return Status::OK();
  }
  void Reset() {
    if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
  }
  const char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
};

// Writes a file through a temporary sibling, then renames it over `path`.
class AtomicFileWriter {
 public:
  ~AtomicFileWriter() {
    if (fd_.get() >= 0) ::unlink(tmp_.c_str());
  }
  Status Open(const std::filesystem::path& path) {
    path_ = path;
    tmp_ = path;
    tmp_ += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(std::random_device{}());
    Fd fd(::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return ErrnoStatus("cannot create " + tmp_.string(), errno);
    fd_ = Fd(fd.Release());
    return Status::OK();
  }
  Status Write(const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_.get(), p, std::min<size_t>(size, 1 << 30));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("cannot write " + tmp_.string(), errno);
      }
      p += n;
      size -= static_cast<size_t>(n);
    }
    return Status::OK();
  }
  Status WriteAt(uint64_t offset, std::string_view data) {
    if (::pwrite(fd_.get(), data.data(), data.size(), static_cast<off_t>(offset)) !=
        static_cast<ssize_t>(data.size())) {
      return ErrnoStatus("cannot write " + tmp_.string(), errno);
    }
    return Status::OK();
  }
  Status Commit() {
    if (::fsync(fd_.get()) != 0) return ErrnoStatus("cannot fsync " + tmp_.string(), errno);
    if (::close(fd_.Release()) != 0) {
      ::unlink(tmp_.c_str());
      return ErrnoStatus("cannot close " + tmp_.string(), errno);
    }
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp_.c_str());
      return ErrnoStatus("cannot rename to " + path_.string(), err);
    }
    std::filesystem::path dir = path_.parent_path();
    if (dir.empty()) dir = ".";
    Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd.get() >= 0) ::fsync(dir_fd.get());
    return Status::OK();
  }

 private:
  std::filesystem::path path_, tmp_;
  Fd fd_;
};

struct FileHeader {
  uint32_t kind = 0;
  uint32_t version = kFormatVersion;
  uint64_t seq = 0;
  uint64_t payload_length = 0;
  uint32_t payload_crc = 0;
  uint64_t slots = 0;
  uint64_t dim = 0;
};

std::string EncodeHeader(const FileHeader& h, size_t padded_size) {
  std::string out(kMagic, sizeof(kMagic));
  PutFixed32(&out, h.kind);
  PutFixed32(&out, h.version);
  PutFixed64(&out, h.seq);
  PutFixed64(&out, h.payload_length);
  PutFixed32(&out, h.payload_crc);
  PutFixed32(&out, 0);
  PutFixed64(&out, h.slots);
  PutFixed64(&out, h.dim);
  PutFixed32(&out, Crc32c(out));
  out.resize(padded_size, '\0');
  return out;
}

// Validates magic, kind, version and the header checksum.
Result<FileHeader> DecodeHeader(std::string_view bytes, uint32_t expected_kind,
                                const std::string& name) {
  auto corrupt = [&](const std::string& what) { return Status::Corruption(name + ": " + what); };
  if (bytes.size() < kHeaderSize) return corrupt("truncated header");
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) return corrupt("bad magic");
  if (DecodeFixed32(bytes.data() + 56) != Crc32c(bytes.substr(0, 56))) {
    return corrupt("header checksum mismatch");
  }
  FileHeader h;
  ByteReader reader(bytes.substr(8, 48));
  uint32_t reserved = 0;
  reader.ReadFixed32(&h.kind);
  reader.ReadFixed32(&h.version);
  reader.ReadFixed64(&h.seq);
  reader.ReadFixed64(&h.payload_length);
  reader.ReadFixed32(&h.payload_crc);
  reader.ReadFixed32(&reserved);
  reader.ReadFixed64(&h.slots);
  reader.ReadFixed64(&h.dim);
  if (h.kind != expected_kind) return corrupt("wrong file kind");
  if (h.version != kFormatVersion) {
    return corrupt("unsupported version " + std::to_string(h.version));
  }
  return h;
}

// Opens `path`; returns its size. NotFound when missing.
Result<size_t> OpenForRead(const std::filesystem::path& path, Fd* fd) {
  *fd = Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd->get() < 0) return ErrnoStatus("cannot open " + path.string(), errno);
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return ErrnoStatus("cannot stat " + path.string(), errno);
  return static_cast<size_t>(st.st_size);
}

// CRC-32C of [offset, offset+length) read with pread, so the pages do not
// become part of this process's mappings.
Result<uint32_t> CrcOfRange(int fd, uint64_t offset, uint64_t length, const std::string& name) {
  std::vector<char> buffer(1 << 20);
  uint32_t crc = 0;
  while (length > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(length, buffer.size()));
    const ssize_t n = ::pread(fd, buffer.data(), want, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot read " + name, errno);
    }
    if (n == 0) return Status::Corruption(name + ": truncated");
    crc = Crc32c(std::string_view(buffer.data(), static_cast<size_t>(n)), crc);
    offset += static_cast<uint64_t>(n);
    length -= static_cast<uint64_t>(n);
  }
  return crc;
}

// --- id -> slot map -----------------------------------------------------------

// Open addressing with linear probing and backward-shift deletion; a slot
// value of kInvalidSlot marks an empty bucket. Not thread-safe.
class IdMap {
 public:
  size_t size() const { return size_; }
  size_t MemoryBytes() const { return keys_.capacity() * 8 + values_.capacity() * 4; }

  uint32_t Find(uint64_t id) const {
    if (size_ == 0) return kInvalidSlot;
    for (size_t pos = Home(id);; pos = (pos + 1) & mask_) {
      if (values_[pos] == kInvalidSlot) return kInvalidSlot;
      if (keys_[pos] == id) return values_[pos];
    }
  }
  // Sets id -> slot; returns the previous slot or kInvalidSlot.
  uint32_t Put(uint64_t id, uint32_t slot) {
    if ((size_ + 1) * 4 > keys_.size() * 3) Rehash(std::max<size_t>(keys_.size() * 2, 16));
    for (size_t pos = Home(id);; pos = (pos + 1) & mask_) {
      if (values_[pos] == kInvalidSlot) {
        keys_[pos] = id;
        values_[pos] = slot;
        ++size_;
        return kInvalidSlot;
      }
      if (keys_[pos] == id) return std::exchange(values_[pos], slot);
    }
  }
  // Removes id; returns its slot or kInvalidSlot.
  uint32_t Erase(uint64_t id) {
    if (size_ == 0) return kInvalidSlot;
    size_t pos = Home(id);
    for (;; pos = (pos + 1) & mask_) {
      if (values_[pos] == kInvalidSlot) return kInvalidSlot;
      if (keys_[pos] == id) break;
    }
    const uint32_t slot = values_[pos];
    // Backward shift: pull later members of the probe run into the hole.
    size_t hole = pos;
    for (size_t next = (hole + 1) & mask_; values_[next] != kInvalidSlot;
         next = (next + 1) & mask_) {
      const size_t home = Home(keys_[next]);
      // Move when `home` is not cyclically within (hole, next].
      const bool stays =
          hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
      if (!stays) {
        keys_[hole] = keys_[next];
        values_[hole] = values_[next];
        hole = next;
      }
    }
    values_[hole] = kInvalidSlot;
    --size_;
    return slot;
  }
  void Clear() {
    keys_.clear();
    values_.clear();
    size_ = 0;
    mask_ = 0;
  }
  void Reserve(size_t n) {
    size_t buckets = 16;
    while (buckets * 3 < n * 4) buckets *= 2;
    if (buckets > keys_.size()) Rehash(buckets);
  }

 private:
  size_t Home(uint64_t id) const { return Mix64(id) & mask_; }
  void Rehash(size_t buckets) {
    std::vector<uint64_t> keys(buckets, 0);
    std::vector<uint32_t> values(buckets, kInvalidSlot);
    keys.swap(keys_);
    values.swap(values_);
    mask_ = buckets - 1;
    size_ = 0;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (values[i] != kInvalidSlot) Put(keys[i], values[i]);
    }
  }

  std::vector<uint64_t> keys_;
  std::vector<uint32_t> values_;
  size_t size_ = 0;
  size_t mask_ = 0;
};

// --- growth lock ------------------------------------------------------------

// A writer-preferring shared lock: once a writer waits, new readers wait
// too, so growth is never starved by back-to-back searches. Readers pay one
// atomic increment and decrement. Not recursive.
class GrowthLock {
 public:
  void lock_shared() {
    for (;;) {
      while (writer_.load(std::memory_order_seq_cst)) std::this_thread::yield();
      readers_.fetch_add(1, std::memory_order_seq_cst);
      if (!writer_.load(std::memory_order_seq_cst)) return;
      readers_.fetch_sub(1, std::memory_order_seq_cst);
    }
  }
  void unlock_shared() { readers_.fetch_sub(1, std::memory_order_seq_cst); }
  void lock() {
    writer_mu_.lock();
    writer_.store(true, std::memory_order_seq_cst);
    while (readers_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  }
  void unlock() {
    writer_.store(false, std::memory_order_seq_cst);
    writer_mu_.unlock();
  }

 private:
  std::mutex writer_mu_;
  std::atomic<bool> writer_{false};
  std::atomic<int64_t> readers_{0};
};

// --- distance spaces for the graph -------------------------------------------

struct CodeTable {
  const uint8_t* codes;
  size_t code_size;
  const uint8_t* Code(uint32_t slot) const { return codes + static_cast<size_t>(slot) * code_size; }
  void Prefetch(uint32_t slot) const {
    const char* p = reinterpret_cast<const char*>(Code(slot));
    // Whole codes up to 1 KiB (int8 up to 1024-d): measured 1.2x the QPS of
    // prefetching 4 lines on Fashion-MNIST; longer codes rely on the
    // hardware prefetcher for the rest.
    const size_t lines = std::min<size_t>((code_size + 63) / 64, 16);
    for (size_t line = 0; line < lines; ++line) __builtin_prefetch(p + line * 64);
  }
};

// Query -> stored code.
struct QuerySpace {
  CodeTable table;
  const PreparedQuery* query;
  float operator()(uint32_t slot) const { return query->Distance(table.Code(slot)); }
  void Prefetch(uint32_t slot) const { table.Prefetch(slot); }
};

// Stored code -> stored code (inserting `base`, repairing).
struct CodeSpace {
  CodeTable table;
  const VectorCodec* codec;
  uint32_t base;
  float operator()(uint32_t slot) const {
    return codec->CodeDistance(table.Code(base), table.Code(slot));
  }
  float Between(uint32_t a, uint32_t b) const {
    return codec->CodeDistance(table.Code(a), table.Code(b));
  }
  void Prefetch(uint32_t slot) const { table.Prefetch(slot); }
};

bool AllFinite(std::span<const float> values) {
  for (float v : values) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

// --- the index ------------------------------------------------------------

class DenseIndexImpl final : public DenseIndex {
 public:
  DenseIndexImpl(const DenseIndexOptions& options, std::unique_ptr<VectorCodec> codec,
                 std::unique_ptr<VectorCodec> exact_codec)
      : options_(options),
        codec_(std::move(codec)),
        exact_codec_(std::move(exact_codec)),
        code_size_(codec_->code_size()),
        trained_(options.quantization == Quantization::kFloat32) {
    graph_ = std::make_unique<HnswGraph>(GraphOptions(), 0);
  }

  const DenseIndexOptions& options() const override { return options_; }

  Status Train(std::span<const float> sample) override;
  Status Add(uint64_t id, std::span<const float> vector) override;
  Status AddBatch(std::span<const uint64_t> ids, std::span<const float> vectors,
                  size_t threads) override;
  bool Remove(uint64_t id) override;
  bool Contains(uint64_t id) const override {
    std::lock_guard<std::mutex> lock(map_mu_);
    return id_map_.Find(id) != kInvalidSlot;
  }
  Result<std::vector<DenseHit>> Search(std::span<const float> query,
                                       const DenseSearchParams& params) const override;
  DenseIndexStats Stats() const override;
  Status Compact() override;
  Status Save(const std::filesystem::path& dir, uint64_t seq) const override;

  static Result<std::unique_ptr<DenseIndex>> LoadFrom(const std::filesystem::path& dir,
                                                      uint64_t* seq);

 private:
  HnswGraphOptions GraphOptions() const {
    return {options_.hnsw.m, options_.hnsw.ef_construction, options_.hnsw.seed};
  }
  bool has_originals() const { return exact_codec_ != nullptr; }
  size_t original_size() const { return has_originals() ? exact_codec_->code_size() : 0; }
  CodeTable codes() const { return {codes_.get(), code_size_}; }
  const uint8_t* Original(uint32_t slot) const {
    if (slot < mapped_slots_) {
      return reinterpret_cast<const uint8_t*>(mapped_originals_.data()) + kOriginalsHeaderSize +
             static_cast<size_t>(slot) * original_size();
    }
    return heap_originals_.get() + static_cast<size_t>(slot - mapped_slots_) * original_size();
  }
  // Asks the kernel to start reading the mapped originals of `slots`.
  void PrefetchOriginals(std::span<const Neighbor> slots) const {
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    for (const Neighbor& n : slots) {
      if (n.slot >= mapped_slots_) continue;  // on the heap
      const auto begin = reinterpret_cast<uintptr_t>(Original(n.slot));
      const uintptr_t first = begin & ~(page - 1);
      const uintptr_t end = (begin + original_size() + page - 1) & ~(page - 1);
      ::madvise(reinterpret_cast<void*>(first), end - first, MADV_WILLNEED);
    }
  }
  uint8_t* MutableOriginal(uint32_t slot) {  // REQUIRES: slot >= mapped_slots_
    return heap_originals_.get() + static_cast<size_t>(slot - mapped_slots_) * original_size();
  }
  bool IsReady(uint32_t slot) const { return __atomic_load_n(&ready_[slot], __ATOMIC_ACQUIRE); }
  bool IsLive(uint32_t slot) const { return IsReady(slot) && !graph_->IsDeleted(slot); }

  Status CheckVector(std::span<const float> vector, const char* what) const {
    if (vector.size() != options_.dim) {
      return Status::InvalidArgument(std::string(what) + " has " + std::to_string(vector.size()) +
                                     " dimensions, the index " + std::to_string(options_.dim));
    }
    if (!AllFinite(vector)) {
      return Status::InvalidArgument(std::string(what) + " has a non-finite value");
    }
    return Status::OK();
  }

  // Grows every per-slot array to at least `min_capacity`. Exclusive lock held.
  void GrowLocked(size_t min_capacity);
  // Trains the codec on `sample`, re-encodes every code and links the
  // buffered slots into the graph. Exclusive lock held.
  void TrainLocked(std::span<const float> sample);
  // The live originals (decoded floats) of the buffered slots, as a sample.
  std::vector<float> PendingSample(size_t max_rows) const;
  // Allocates a slot for `id` under the shared lock (growing when full).
  // Returns the slot and the replaced slot (kInvalidSlot if none).
  std::pair<uint32_t, uint32_t> AllocateSlot(uint64_t id, std::shared_lock<GrowthLock>* lock);
  Status AddOne(uint64_t id, std::span<const float> vector, bool* wants_training);
  void Encode(uint32_t slot, const float* vector);
  // Validates dense.orig against the index header and maps it (Load).
  Status MapOriginals(const std::filesystem::path& path, const FileHeader& header);

  void ExactSearch(const float* query, size_t k, const std::function<bool(uint64_t)>* filter,
                   std::vector<Neighbor>* out) const;
  bool FilterIsSelective(const std::function<bool(uint64_t)>& filter, size_t ef) const;

  DenseIndexOptions options_;
  std::unique_ptr<VectorCodec> codec_;
  std::unique_ptr<VectorCodec> exact_codec_;  // null for kFloat32
  size_t code_size_;
  std::unique_ptr<HnswGraph> graph_;

  mutable GrowthLock growth_;
  size_t capacity_ = 0;
  std::unique_ptr<uint8_t[]> codes_;
  std::unique_ptr<uint8_t[]> heap_originals_;  // slots [mapped_slots_, capacity_)
  MappedFile mapped_originals_;                // slots [0, mapped_slots_)
  size_t mapped_slots_ = 0;
  std::unique_ptr<uint64_t[]> slot_ids_;
  std::unique_ptr<uint8_t[]> ready_;

  mutable std::mutex map_mu_;  // guards id_map_, slot_count_, pending_
  IdMap id_map_;
  size_t slot_count_ = 0;
  std::vector<uint32_t> pending_;  // slots waiting for training (kInt8)
  std::atomic<bool> trained_;
  std::atomic<size_t> live_{0};
};

void DenseIndexImpl::GrowLocked(size_t min_capacity) {
  if (min_capacity <= capacity_) return;
  const size_t capacity = std::max({min_capacity, capacity_ * 2, size_t{1024}});
  auto grow = [&](std::unique_ptr<uint8_t[]>* array, size_t unit, size_t old_count,
                  size_t new_count) {
    auto fresh = MakeLargeArray<uint8_t>(new_count * unit);
    if (*array && old_count > 0) std::memcpy(fresh.get(), array->get(), old_count * unit);
    *array = std::move(fresh);
  };
  grow(&codes_, code_size_, capacity_, capacity);
  grow(&ready_, 1, capacity_, capacity);
  if (has_originals()) {  // the heap part covers [mapped_slots_, capacity)
    grow(&heap_originals_, original_size(),
         capacity_ > mapped_slots_ ? capacity_ - mapped_slots_ : 0, capacity - mapped_slots_);
  }
  auto ids = std::make_unique<uint64_t[]>(capacity);
  if (slot_ids_) std::memcpy(ids.get(), slot_ids_.get(), capacity_ * sizeof(uint64_t));
  slot_ids_ = std::move(ids);
  graph_->Reserve(capacity);
  capacity_ = capacity;
}

std::pair<uint32_t, uint32_t> DenseIndexImpl::AllocateSlot(uint64_t id,
                                                           std::shared_lock<GrowthLock>* lock) {
  for (;;) {
    {
      std::lock_guard<std::mutex> map_lock(map_mu_);
      if (slot_count_ < capacity_) {
        const uint32_t slot = static_cast<uint32_t>(slot_count_++);
        slot_ids_[slot] = id;
        const uint32_t old = id_map_.Put(id, slot);
        if (old == kInvalidSlot) live_.fetch_add(1, std::memory_order_relaxed);
        return {slot, old};
      }
    }
    lock->unlock();
    {
      std::unique_lock<GrowthLock> exclusive(growth_);
      std::lock_guard<std::mutex> map_lock(map_mu_);
      GrowLocked(slot_count_ + 1);
    }
    lock->lock();
  }
}

void DenseIndexImpl::Encode(uint32_t slot, const float* vector) {
  if (has_originals()) exact_codec_->Encode(vector, MutableOriginal(slot));
  codec_->Encode(vector, codes_.get() + static_cast<size_t>(slot) * code_size_);
}

Status DenseIndexImpl::AddOne(uint64_t id, std::span<const float> vector, bool* wants_training) {
  QUARRY_RETURN_IF_ERROR(CheckVector(vector, "vector"));
  std::shared_lock<GrowthLock> lock(growth_);
  const auto [slot, old] = AllocateSlot(id, &lock);
  Encode(slot, vector.data());
  __atomic_store_n(&ready_[slot], uint8_t{1}, __ATOMIC_RELEASE);
  if (trained_.load(std::memory_order_acquire)) {
    graph_->Insert(slot, CodeSpace{codes(), codec_.get(), slot});
  } else {
    std::lock_guard<std::mutex> map_lock(map_mu_);
    pending_.push_back(slot);
    *wants_training = pending_.size() >= std::max<size_t>(options_.train_sample, 1);
  }
  if (old != kInvalidSlot) graph_->MarkDeleted(old);
  return Status::OK();
}

Status DenseIndexImpl::Add(uint64_t id, std::span<const float> vector) {
  bool wants_training = false;
  QUARRY_RETURN_IF_ERROR(AddOne(id, vector, &wants_training));
  if (wants_training) {
    std::unique_lock<GrowthLock> exclusive(growth_);
    if (!trained_.load()) TrainLocked(PendingSample(options_.train_sample));
  }
  return Status::OK();
}

Status DenseIndexImpl::AddBatch(std::span<const uint64_t> ids, std::span<const float> vectors,
                                size_t threads) {
  const size_t dim = options_.dim;
  if (vectors.size() != ids.size() * dim) {
    return Status::InvalidArgument("AddBatch: " + std::to_string(vectors.size()) + " floats for " +
                                   std::to_string(ids.size()) + " ids of " + std::to_string(dim) +
                                   " dimensions");
  }
  for (size_t row = 0; row < ids.size(); ++row) {
    QUARRY_RETURN_IF_ERROR(CheckVector(vectors.subspan(row * dim, dim), "vector"));
  }
  const size_t n = ids.size();
  if (!trained_.load() && n > 0) {
    std::unique_lock<GrowthLock> exclusive(growth_);
    size_t pending = 0;
    {
      std::lock_guard<std::mutex> map_lock(map_mu_);
      pending = pending_.size();
    }
    if (!trained_.load() && pending + n >= options_.train_sample) {
      std::vector<float> sample = PendingSample(options_.train_sample);
      const size_t rows =
          std::min(n, options_.train_sample - std::min(pending, options_.train_sample));
      sample.insert(sample.end(), vectors.begin(),
                    vectors.begin() + std::max<size_t>(rows, 1) * dim);
      TrainLocked(sample);
    }
  }
  {
    std::unique_lock<GrowthLock> exclusive(growth_);
    std::lock_guard<std::mutex> map_lock(map_mu_);
    GrowLocked(slot_count_ + n);
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> wants_training{false};
  auto work = [&] {
    for (size_t row = next++; row < n; row = next++) {
      bool wants = false;
      (void)AddOne(ids[row], vectors.subspan(row * dim, dim), &wants);  // validated above
      if (wants) wants_training = true;
    }
  };
  threads = std::clamp<size_t>(threads, 1, std::max<size_t>(n / 64, 1));
  std::vector<std::thread> workers;
  for (size_t t = 1; t < threads; ++t) workers.emplace_back(work);
  work();
  for (auto& worker : workers) worker.join();
  if (wants_training) {
    std::unique_lock<GrowthLock> exclusive(growth_);
    if (!trained_.load()) TrainLocked(PendingSample(options_.train_sample));
  }
  return Status::OK();
}

std::vector<float> DenseIndexImpl::PendingSample(size_t max_rows) const {
  // Buffered vectors are only in the originals (encoded by the float32 codec:
  // for cosine, normalised, which is what the int8 codec trains on anyway).
  std::vector<float> sample;
  const size_t dim = options_.dim;
  for (uint32_t slot : pending_) {
    if (sample.size() / dim >= max_rows) break;
    if (graph_->IsDeleted(slot)) continue;
    const float* row = reinterpret_cast<const float*>(Original(slot));
    sample.insert(sample.end(), row, row + dim);
  }
  return sample;
}

void DenseIndexImpl::TrainLocked(std::span<const float> sample) {
  if (!sample.empty()) codec_->Train(sample);  // else keep the default range
  if (has_originals()) {
    // Re-encode every code from its original (float32-codec form, which
    // decodes as plain floats).
    for (uint32_t slot = 0; slot < slot_count_; ++slot) {
      codec_->Encode(reinterpret_cast<const float*>(Original(slot)),
                     codes_.get() + static_cast<size_t>(slot) * code_size_);
    }
  }
  trained_.store(true, std::memory_order_release);
  std::vector<uint32_t> pending;
  pending.swap(pending_);
  for (uint32_t slot : pending) {
    if (!graph_->IsDeleted(slot)) graph_->Insert(slot, CodeSpace{codes(), codec_.get(), slot});
  }
}

Status DenseIndexImpl::Train(std::span<const float> sample) {
  if (options_.quantization != Quantization::kInt8) return Status::OK();
  if (sample.empty() || sample.size() % options_.dim != 0) {
    return Status::InvalidArgument("Train: sample size " + std::to_string(sample.size()) +
                                   " is not a positive multiple of dim " +
                                   std::to_string(options_.dim));
  }
  if (!AllFinite(sample)) return Status::InvalidArgument("Train: sample has a non-finite value");
  std::unique_lock<GrowthLock> exclusive(growth_);
  TrainLocked(sample);
  return Status::OK();
}

bool DenseIndexImpl::Remove(uint64_t id) {
  std::shared_lock<GrowthLock> lock(growth_);
  uint32_t slot;
  {
    std::lock_guard<std::mutex> map_lock(map_mu_);
    slot = id_map_.Erase(id);
    if (slot == kInvalidSlot) return false;
    live_.fetch_sub(1, std::memory_order_relaxed);
  }
  graph_->MarkDeleted(slot);
  return true;
}

void DenseIndexImpl::ExactSearch(const float* query, size_t k,
                                 const std::function<bool(uint64_t)>* filter,
                                 std::vector<Neighbor>* out) const {
  out->clear();
  if (k == 0) return;
  const VectorCodec* codec = has_originals() ? exact_codec_.get() : codec_.get();
  const auto prepared = codec->Prepare(query);
  size_t slots;
  {
    std::lock_guard<std::mutex> map_lock(map_mu_);
    slots = slot_count_;
  }
  std::vector<Neighbor> heap;  // max-heap of the best k
  heap.reserve(k + 1);
  for (uint32_t slot = 0; slot < slots; ++slot) {
    if (!IsLive(slot)) continue;
    if (filter != nullptr && !(*filter)(slot_ids_[slot])) continue;
    const uint8_t* data = has_originals() ? Original(slot) : codes().Code(slot);
    const float d = prepared->Distance(data);
    if (heap.size() < k) {
      heap.push_back({d, slot});
      std::push_heap(heap.begin(), heap.end());
    } else if (Neighbor{d, slot} < heap.front()) {
      std::pop_heap(heap.begin(), heap.end());
      heap.back() = {d, slot};
      std::push_heap(heap.begin(), heap.end());
    }
  }
  std::sort_heap(heap.begin(), heap.end());
  *out = std::move(heap);
}

bool DenseIndexImpl::FilterIsSelective(const std::function<bool(uint64_t)>& filter,
                                       size_t ef) const {
  size_t slots;
  {
    std::lock_guard<std::mutex> map_lock(map_mu_);
    slots = slot_count_;
  }
  const size_t live = live_.load(std::memory_order_relaxed);
  if (slots == 0 || live == 0) return true;
  // Evenly spaced probes from a fixed start: deterministic per index state.
  const size_t probes = std::min(slots, kFilterSample * 2);
  size_t sampled = 0, passed = 0;
  for (size_t i = 0; i < probes && sampled < kFilterSample; ++i) {
    const uint32_t slot = static_cast<uint32_t>((i * slots) / probes);
    if (!IsLive(slot)) continue;
    ++sampled;
    passed += filter(slot_ids_[slot]) ? 1 : 0;
  }
  if (sampled == 0) return true;
  const double selectivity = static_cast<double>(passed) / static_cast<double>(sampled);
  const double allowed = selectivity * static_cast<double>(live);
  return selectivity < kExactFilterSelectivity ||
         allowed < static_cast<double>(std::max<size_t>(4 * ef, 500));
}

Result<std::vector<DenseHit>> DenseIndexImpl::Search(std::span<const float> query,
                                                     const DenseSearchParams& params) const {
  QUARRY_RETURN_IF_ERROR(CheckVector(query, "query"));
  if (!(params.oversampling >= 1.0f) || params.oversampling > 1000.0f) {
    return Status::InvalidArgument("oversampling must be in [1, 1000]");
  }
  std::vector<DenseHit> hits;
  const size_t k = params.k;
  if (k == 0) return hits;
  std::shared_lock<GrowthLock> lock(growth_);

  const bool rescore = params.rescore && has_originals();
  const size_t fetch =
      rescore ? static_cast<size_t>(std::ceil(static_cast<double>(k) * params.oversampling)) : k;
  const size_t ef =
      std::max({params.ef != 0 ? params.ef : size_t{options_.hnsw.ef_search}, k, fetch});
  const std::function<bool(uint64_t)>* filter =
      (params.filter != nullptr && *params.filter) ? params.filter : nullptr;

  std::vector<Neighbor> found;
  bool exact = params.exact || !trained_.load(std::memory_order_acquire) ||
               live_.load(std::memory_order_relaxed) < options_.exact_below;
  if (!exact && filter != nullptr) exact = FilterIsSelective(*filter, ef);
  if (!exact) {
    const auto prepared = codec_->Prepare(query.data());
    const QuerySpace space{codes(), prepared.get()};
    if (filter != nullptr) {
      const auto accept = [this, filter](uint32_t slot) { return (*filter)(slot_ids_[slot]); };
      graph_->Search(space, fetch, ef, accept, &found);
    } else {
      graph_->Search(space, fetch, ef, &found);
    }
    if (found.size() < std::min(k, live_.load(std::memory_order_relaxed))) {
      exact = true;  // too few allowed hits reachable: scan
    } else if (rescore && !found.empty()) {
      const auto exact_query = exact_codec_->Prepare(query.data());
      // On a cold page cache each original is a disk read, and read in turn
      // they queue one behind another. When the first read is that slow, ask
      // for all the rest at once so the reads overlap.
      const auto t0 = std::chrono::steady_clock::now();
      found[0].distance = exact_query->Distance(Original(found[0].slot));
      if (found.size() > 1 && std::chrono::steady_clock::now() - t0 > kColdReadThreshold) {
        PrefetchOriginals(std::span<const Neighbor>(found).subspan(1));
      }
      for (size_t i = 1; i < found.size(); ++i) {
        found[i].distance = exact_query->Distance(Original(found[i].slot));
      }
      std::sort(found.begin(), found.end());
    }
  }
  if (exact) ExactSearch(query.data(), k, filter, &found);
  if (found.size() > k) found.resize(k);
  hits.reserve(found.size());
  for (const Neighbor& n : found) hits.push_back({slot_ids_[n.slot], -n.distance});
  return hits;
}

DenseIndexStats DenseIndexImpl::Stats() const {
  std::shared_lock<GrowthLock> lock(growth_);
  std::lock_guard<std::mutex> map_lock(map_mu_);
  DenseIndexStats stats;
  stats.vectors = id_map_.size();
  stats.tombstones = slot_count_ - id_map_.size();
  stats.code_bytes = capacity_ * code_size_;
  stats.graph_bytes = graph_->MemoryBytes();
  stats.original_bytes = slot_count_ * original_size();
  const uint64_t heap_originals = (capacity_ - mapped_slots_) * original_size();
  stats.memory_bytes = stats.code_bytes + stats.graph_bytes + heap_originals +
                       capacity_ * (sizeof(uint64_t) + 1) + id_map_.MemoryBytes() +
                       pending_.capacity() * sizeof(uint32_t);
  return stats;
}

Status DenseIndexImpl::Compact() {
  std::unique_lock<GrowthLock> exclusive(growth_);
  std::lock_guard<std::mutex> map_lock(map_mu_);
  if (slot_count_ == id_map_.size()) return Status::OK();
  if (trained_.load()) {
    const CodeTable table = codes();
    const VectorCodec* codec = codec_.get();
    graph_->RepairDeleted([table, codec](uint32_t a, uint32_t b) {
      return codec->CodeDistance(table.Code(a), table.Code(b));
    });
  }
  std::vector<uint32_t> old_to_new(capacity_, kInvalidSlot);
  uint32_t next = 0;
  for (uint32_t slot = 0; slot < slot_count_; ++slot) {
    if (IsLive(slot)) old_to_new[slot] = next++;
  }
  const size_t new_capacity = std::max<size_t>(next, 1024);
  auto new_codes = MakeLargeArray<uint8_t>(new_capacity * code_size_);
  auto new_ready = std::make_unique<uint8_t[]>(new_capacity);
  auto new_ids = std::make_unique<uint64_t[]>(new_capacity);
  std::unique_ptr<uint8_t[]> new_originals;
  if (has_originals()) new_originals = MakeLargeArray<uint8_t>(new_capacity * original_size());
  for (uint32_t slot = 0; slot < slot_count_; ++slot) {
    const uint32_t to = old_to_new[slot];
    if (to == kInvalidSlot) continue;
    std::memcpy(new_codes.get() + static_cast<size_t>(to) * code_size_, codes().Code(slot),
                code_size_);
    if (has_originals()) {
      std::memcpy(new_originals.get() + static_cast<size_t>(to) * original_size(), Original(slot),
                  original_size());
    }
    new_ready[to] = 1;
    new_ids[to] = slot_ids_[slot];
  }
  graph_->Remap(old_to_new, new_capacity);
  codes_ = std::move(new_codes);
  ready_ = std::move(new_ready);
  slot_ids_ = std::move(new_ids);
  heap_originals_ = std::move(new_originals);
  mapped_originals_.Reset();
  mapped_slots_ = 0;
  capacity_ = new_capacity;
  slot_count_ = next;
  id_map_.Clear();
  id_map_.Reserve(next);
  for (uint32_t slot = 0; slot < next; ++slot) id_map_.Put(slot_ids_[slot], slot);
  std::vector<uint32_t> pending;
  for (uint32_t slot : pending_) {
    if (old_to_new[slot] != kInvalidSlot) pending.push_back(old_to_new[slot]);
  }
  pending_ = std::move(pending);
  return Status::OK();
}

// --- snapshot ---------------------------------------------------------------

Status DenseIndexImpl::Save(const std::filesystem::path& dir, uint64_t seq) const {
  std::unique_lock<GrowthLock> exclusive(growth_);
  std::lock_guard<std::mutex> map_lock(map_mu_);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir.string() + ": " + ec.message());
  const size_t slots = slot_count_;

  // Payload of dense.idx, in order.
  std::string meta;
  PutFixed64(&meta, options_.dim);
  PutFixed32(&meta, static_cast<uint32_t>(options_.metric));
  PutFixed32(&meta, static_cast<uint32_t>(options_.quantization));
  PutFloat(&meta, options_.int8_quantile);
  PutFixed32(&meta, options_.hnsw.m);
  PutFixed32(&meta, options_.hnsw.ef_construction);
  PutFixed32(&meta, options_.hnsw.ef_search);
  PutFixed64(&meta, options_.hnsw.seed);
  PutFixed64(&meta, options_.exact_below);
  PutFixed64(&meta, options_.train_sample);
  PutFixed32(&meta, trained_.load() ? 1 : 0);
  PutFixed64(&meta, code_size_);
  const std::string params = codec_->SerializeParams();
  PutFixed64(&meta, params.size());
  meta += params;
  PutFixed64(&meta, pending_.size());
  for (uint32_t slot : pending_) PutFixed32(&meta, slot);
  std::string ids;
  ids.reserve(slots * 8);
  for (size_t slot = 0; slot < slots; ++slot) PutFixed64(&ids, slot_ids_[slot]);
  std::string graph;
  graph_->Serialize(slots, &graph);
  std::string graph_len;
  PutFixed64(&graph_len, graph.size());
  const std::string_view code_bytes(reinterpret_cast<const char*>(codes_.get()),
                                    slots * code_size_);

  FileHeader header;
  header.kind = kKindIndex;
  header.seq = seq;
  header.slots = slots;
  header.dim = options_.dim;
  header.payload_length =
      meta.size() + ids.size() + graph_len.size() + graph.size() + code_bytes.size();
  uint32_t crc = Crc32c(meta);
  crc = Crc32c(ids, crc);
  crc = Crc32c(graph_len, crc);
  crc = Crc32c(graph, crc);
  crc = Crc32c(code_bytes, crc);
  header.payload_crc = crc;
  {
    AtomicFileWriter writer;
    QUARRY_RETURN_IF_ERROR(writer.Open(dir / kIndexFile));
    const std::string head = EncodeHeader(header, kHeaderSize);
    QUARRY_RETURN_IF_ERROR(writer.Write(head.data(), head.size()));
    for (std::string_view part :
         {std::string_view(meta), std::string_view(ids), std::string_view(graph_len),
          std::string_view(graph), code_bytes}) {
      QUARRY_RETURN_IF_ERROR(writer.Write(part.data(), part.size()));
    }
    QUARRY_RETURN_IF_ERROR(writer.Commit());
  }

  const std::filesystem::path originals_path = dir / kOriginalsFile;
  if (!has_originals()) {
    std::filesystem::remove(originals_path, ec);
    return Status::OK();
  }
  AtomicFileWriter writer;
  QUARRY_RETURN_IF_ERROR(writer.Open(originals_path));
  FileHeader oheader;
  oheader.kind = kKindOriginals;
  oheader.seq = seq;
  oheader.slots = slots;
  oheader.dim = options_.dim;
  oheader.payload_length = slots * original_size();
  // Header placeholder, then the rows (mapped part and heap part), then the
  // real header once the checksum is known.
  QUARRY_RETURN_IF_ERROR(
      writer.Write(std::string(kOriginalsHeaderSize, '\0').data(), kOriginalsHeaderSize));
  uint32_t ocrc = 0;
  const size_t mapped = std::min(slots, mapped_slots_);
  if (mapped > 0) {
    const std::string_view part(reinterpret_cast<const char*>(Original(0)),
                                mapped * original_size());
    ocrc = Crc32c(part, ocrc);
    QUARRY_RETURN_IF_ERROR(writer.Write(part.data(), part.size()));
  }
  if (slots > mapped) {
    const std::string_view part(
        reinterpret_cast<const char*>(Original(static_cast<uint32_t>(mapped))),
        (slots - mapped) * original_size());
    ocrc = Crc32c(part, ocrc);
    QUARRY_RETURN_IF_ERROR(writer.Write(part.data(), part.size()));
  }
  oheader.payload_crc = ocrc;
  QUARRY_RETURN_IF_ERROR(writer.WriteAt(0, EncodeHeader(oheader, kOriginalsHeaderSize)));
  return writer.Commit();
}

Status DenseIndexImpl::MapOriginals(const std::filesystem::path& path, const FileHeader& header) {
  const std::string name = path.string();
  const size_t slots = header.slots;
  Fd ofd;
  auto size = OpenForRead(path, &ofd);
  if (!size.ok()) {
    return size.status().IsNotFound() ? Status::Corruption(name + " is missing") : size.status();
  }
  std::string head(kHeaderSize, '\0');
  if (*size < kOriginalsHeaderSize ||
      ::pread(ofd.get(), head.data(), kHeaderSize, 0) != static_cast<ssize_t>(kHeaderSize)) {
    return Status::Corruption(name + ": truncated header");
  }
  QUARRY_ASSIGN_OR_RETURN(const FileHeader oheader, DecodeHeader(head, kKindOriginals, name));
  const size_t row = original_size();
  if (oheader.seq != header.seq || oheader.slots != slots || oheader.dim != header.dim) {
    return Status::Corruption(name + ": does not match the index file");
  }
  if (oheader.payload_length != slots * row || *size != kOriginalsHeaderSize + slots * row) {
    return Status::Corruption(name + ": length mismatch");
  }
  QUARRY_ASSIGN_OR_RETURN(const uint32_t crc,
                          CrcOfRange(ofd.get(), kOriginalsHeaderSize, slots * row, name));
  if (crc != oheader.payload_crc) return Status::Corruption(name + ": checksum mismatch");
  QUARRY_RETURN_IF_ERROR(mapped_originals_.Map(ofd.get(), *size, name));
  ::madvise(const_cast<char*>(mapped_originals_.data()), *size, MADV_RANDOM);
  mapped_slots_ = slots;
  return Status::OK();
}

Result<std::unique_ptr<DenseIndex>> DenseIndexImpl::LoadFrom(const std::filesystem::path& dir,
                                                             uint64_t* seq_out) {
  const std::string index_name = (dir / kIndexFile).string();
  auto corrupt = [&](const std::string& what) {
    return Status::Corruption(index_name + ": " + what);
  };
  Fd fd;
  QUARRY_ASSIGN_OR_RETURN(const size_t file_size, OpenForRead(dir / kIndexFile, &fd));
  MappedFile file;
  QUARRY_RETURN_IF_ERROR(file.Map(fd.get(), file_size, index_name));
  const std::string_view bytes(file.data(), file.size());
  QUARRY_ASSIGN_OR_RETURN(const FileHeader header, DecodeHeader(bytes, kKindIndex, index_name));
  if (header.payload_length != file_size - kHeaderSize) return corrupt("length mismatch");
  const std::string_view payload = bytes.substr(kHeaderSize);
  if (Crc32c(payload) != header.payload_crc) return corrupt("checksum mismatch");
  if (header.slots >= kInvalidSlot) return corrupt("too many slots");
  const size_t slots = header.slots;

  ByteReader reader(payload);
  DenseIndexOptions options;
  uint64_t dim = 0, seed = 0, exact_below = 0, train_sample = 0, code_size = 0, params_len = 0;
  uint32_t metric = 0, quantization = 0, m = 0, ef_c = 0, ef_s = 0, trained = 0;
  float quantile = 0;
  std::string_view params;
  if (!reader.ReadFixed64(&dim) || !reader.ReadFixed32(&metric) ||
      !reader.ReadFixed32(&quantization) || !reader.ReadFloat(&quantile) ||
      !reader.ReadFixed32(&m) || !reader.ReadFixed32(&ef_c) || !reader.ReadFixed32(&ef_s) ||
      !reader.ReadFixed64(&seed) || !reader.ReadFixed64(&exact_below) ||
      !reader.ReadFixed64(&train_sample) || !reader.ReadFixed32(&trained) ||
      !reader.ReadFixed64(&code_size) || !reader.ReadFixed64(&params_len) ||
      !reader.ReadBytes(params_len, &params)) {
    return corrupt("truncated options");
  }
  if (dim == 0 || dim > kMaxDim || dim != header.dim) return corrupt("bad dim");
  if (metric > static_cast<uint32_t>(Metric::kCosine)) return corrupt("bad metric");
  if (quantization > static_cast<uint32_t>(Quantization::kBinary)) {
    return corrupt("bad quantization");
  }
  if (trained > 1) return corrupt("bad trained flag");
  options.dim = dim;
  options.metric = static_cast<Metric>(metric);
  options.quantization = static_cast<Quantization>(quantization);
  options.int8_quantile = quantile;
  options.hnsw = {m, ef_c, ef_s, seed};
  options.exact_below = exact_below;
  options.train_sample = train_sample;

  auto codec = VectorCodec::Deserialize(params);
  if (!codec.ok()) return corrupt("codec: " + codec.status().message());
  if ((*codec)->dim() != dim || (*codec)->metric() != options.metric ||
      (*codec)->quantization() != options.quantization || (*codec)->code_size() != code_size) {
    return corrupt("codec does not match the options");
  }
  std::unique_ptr<VectorCodec> exact_codec;
  if (options.quantization != Quantization::kFloat32) {
    auto created = VectorCodec::Create(dim, options.metric, Quantization::kFloat32);
    if (!created.ok()) return created.status();
    exact_codec = std::move(*created);
  }
  auto index = std::make_unique<DenseIndexImpl>(options, std::move(*codec), std::move(exact_codec));
  index->trained_.store(trained != 0);

  uint64_t pending_count = 0;
  if (!reader.ReadFixed64(&pending_count) || pending_count > slots) {
    return corrupt("bad pending list");
  }
  index->pending_.resize(pending_count);
  for (uint32_t& slot : index->pending_) {
    if (!reader.ReadFixed32(&slot) || slot >= slots) return corrupt("bad pending slot");
  }
  if (trained != 0 && pending_count != 0) return corrupt("pending slots in a trained index");

  std::string_view ids;
  if (!reader.ReadBytes(slots * 8, &ids)) return corrupt("truncated ids");
  uint64_t graph_len = 0;
  std::string_view graph_bytes, code_bytes;
  if (!reader.ReadFixed64(&graph_len) || !reader.ReadBytes(graph_len, &graph_bytes) ||
      !reader.ReadBytes(slots * code_size, &code_bytes) || reader.remaining() != 0) {
    return corrupt("truncated graph or codes");
  }
  if (index->has_originals()) {
    QUARRY_RETURN_IF_ERROR(index->MapOriginals(dir / kOriginalsFile, header));
  }
  {
    // The graph first (sized as GrowLocked will size the rest), then the
    // per-slot arrays; the heap originals only cover slots after the mapped.
    std::unique_lock<GrowthLock> exclusive(index->growth_);
    std::lock_guard<std::mutex> map_lock(index->map_mu_);
    auto graph = HnswGraph::Deserialize(graph_bytes, std::max<size_t>(slots, 1024));
    if (!graph.ok()) return corrupt(graph.status().message());
    if ((*graph)->options().m != std::max<uint32_t>(m, 2)) return corrupt("graph m mismatch");
    index->graph_ = std::move(*graph);
    index->GrowLocked(std::max<size_t>(slots, 1));
    std::memcpy(index->codes_.get(), code_bytes.data(), code_bytes.size());
    index->id_map_.Reserve(slots);
    for (size_t slot = 0; slot < slots; ++slot) {
      const uint64_t id = DecodeFixed64(ids.data() + slot * 8);
      index->slot_ids_[slot] = id;
      index->ready_[slot] = 1;
      const bool inserted = index->graph_->contains(static_cast<uint32_t>(slot));
      if (index->graph_->IsDeleted(static_cast<uint32_t>(slot))) continue;
      if (trained != 0 && !inserted) return corrupt("live slot missing from the graph");
      if (index->id_map_.Put(id, static_cast<uint32_t>(slot)) != kInvalidSlot) {
        return corrupt("duplicate live id");
      }
    }
    for (uint32_t slot : index->pending_) {
      if (index->graph_->contains(slot)) return corrupt("pending slot in the graph");
    }
    index->slot_count_ = slots;
    index->live_.store(index->id_map_.size());
  }

  if (seq_out != nullptr) *seq_out = header.seq;
  return std::unique_ptr<DenseIndex>(std::move(index));
}

}  // namespace

Result<std::unique_ptr<DenseIndex>> DenseIndex::Create(const DenseIndexOptions& options) {
  if (options.dim == 0 || options.dim > kMaxDim) {
    return Status::InvalidArgument("dim must be in [1, " + std::to_string(kMaxDim) + "]");
  }
  if (options.hnsw.m < 2 || options.hnsw.m > 256) {
    return Status::InvalidArgument("hnsw.m must be in [2, 256]");
  }
  if (options.hnsw.ef_construction == 0) {
    return Status::InvalidArgument("hnsw.ef_construction must be positive");
  }
  QUARRY_ASSIGN_OR_RETURN(auto codec,
                          VectorCodec::Create(options.dim, options.metric, options.quantization,
                                              options.int8_quantile));
  std::unique_ptr<VectorCodec> exact_codec;
  if (options.quantization != Quantization::kFloat32) {
    QUARRY_ASSIGN_OR_RETURN(
        exact_codec, VectorCodec::Create(options.dim, options.metric, Quantization::kFloat32));
  }
  return std::unique_ptr<DenseIndex>(
      std::make_unique<DenseIndexImpl>(options, std::move(codec), std::move(exact_codec)));
}

Result<std::unique_ptr<DenseIndex>> DenseIndex::Load(const std::filesystem::path& dir,
                                                     uint64_t* seq) {
  return DenseIndexImpl::LoadFrom(dir, seq);
}

}  // namespace quarry::index::dense
