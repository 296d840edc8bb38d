#include "index/dense/hnsw.h"

#include <bit>
#include <cstring>

#include "common/file_util.h"
#include "common/hash.h"
#include "common/large_array.h"

namespace quarry::index::dense {

namespace {

constexpr uint32_t kGraphMagic = 0x57534E48;  // "HNSW"
constexpr uint32_t kGraphVersion = 1;
constexpr uint32_t kMaxM = 512;

void PadTo8(std::string* out) {
  while (out->size() % 8 != 0) out->push_back('\0');
}

}  // namespace

HnswGraph::HnswGraph(const HnswGraphOptions& options, size_t capacity)
    : options_(options),
      max_links_(std::max<uint32_t>(options.m, 2)),
      max_links0_(2 * std::max<uint32_t>(options.m, 2)),
      level0_stride_(2 * std::max<uint32_t>(options.m, 2) + 1),
      level_mult_(1.0 / std::log(static_cast<double>(std::max<uint32_t>(options.m, 2)))),
      link_locks_(std::make_unique<std::mutex[]>(kLockStripes)) {
  options_.m = max_links_;
  options_.ef_construction = std::max<uint32_t>(options_.ef_construction, 1);
  Reserve(capacity);
}

size_t HnswGraph::MemoryBytes() const {
  size_t bytes = capacity_ * (level0_stride_ * sizeof(uint32_t) + sizeof(int8_t) + sizeof(uint8_t) +
                              sizeof(std::unique_ptr<uint32_t[]>));
  for (size_t s = 0; s < capacity_; ++s) {
    if (levels_[s] > 0) bytes += static_cast<size_t>(levels_[s]) * (max_links_ + 1) * 4;
  }
  return bytes;
}

void HnswGraph::Reserve(size_t capacity) {
  if (capacity <= capacity_ && level0_ != nullptr) return;
  capacity = std::max(capacity, capacity_);
  auto level0 = MakeLargeArray<uint32_t>(std::max<size_t>(capacity, 1) * level0_stride_);
  if (capacity_ > 0) {
    std::memcpy(level0.get(), level0_.get(), capacity_ * level0_stride_ * sizeof(uint32_t));
  }
  level0_ = std::move(level0);
  upper_.resize(capacity);
  levels_.resize(capacity, -1);
  deleted_.resize(capacity, 0);
  capacity_ = capacity;
}

int HnswGraph::DrawLevel(uint32_t slot) const {
  // 53 random bits -> U in (0, 1].
  const uint64_t bits = Mix64(options_.seed * 0x9E3779B97F4A7C15ULL + slot + 1) >> 11;
  const double u = (static_cast<double>(bits) + 1.0) / 9007199254740992.0;
  const double level = -std::log(u) * level_mult_;
  return static_cast<int>(std::min<double>(level, kMaxLevel));
}

bool HnswGraph::MarkDeleted(uint32_t slot) {
  if (slot >= capacity_) return false;
  const uint8_t was = __atomic_exchange_n(&deleted_[slot], uint8_t{1}, __ATOMIC_RELAXED);
  if (was != 0) return false;
  deleted_count_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void HnswGraph::ReadLinks(uint32_t slot, int layer, std::vector<uint32_t>* out) const {
  const uint32_t* list = Links(slot, layer);
  const uint32_t count = std::min(hnsw_internal::LoadLink(list), MaxLinks(layer));
  out->resize(count);
  for (uint32_t i = 0; i < count; ++i) (*out)[i] = hnsw_internal::LoadLink(list + 1 + i);
}

void HnswGraph::WriteLinks(uint32_t slot, int layer, std::span<const uint32_t> links) {
  uint32_t* list = Links(slot, layer);
  const uint32_t count = static_cast<uint32_t>(std::min<size_t>(links.size(), MaxLinks(layer)));
  // Shrinking first then growing keeps every visible position valid.
  if (count < hnsw_internal::LoadLink(list)) hnsw_internal::StoreLink(list, count);
  for (uint32_t i = 0; i < count; ++i) hnsw_internal::StoreLink(list + 1 + i, links[i]);
  hnsw_internal::StoreLink(list, count);
}

void HnswGraph::Remap(std::span<const uint32_t> old_to_new, size_t new_capacity) {
  HnswGraph fresh(options_, new_capacity);
  std::vector<uint32_t> links, mapped;
  size_t inserted = 0, deleted = 0;
  for (size_t s = 0; s < capacity_ && s < old_to_new.size(); ++s) {
    const uint32_t to = old_to_new[s];
    if (to == kInvalidSlot || to >= new_capacity) continue;
    fresh.deleted_[to] = deleted_[s];
    const int level = levels_[s];
    fresh.levels_[to] = static_cast<int8_t>(level);
    deleted += deleted_[s] != 0;
    if (level < 0) continue;
    ++inserted;
    if (level > 0) {
      fresh.upper_[to] =
          std::make_unique<uint32_t[]>(static_cast<size_t>(level) * (max_links_ + 1));
    }
    for (int layer = 0; layer <= level; ++layer) {
      ReadLinks(static_cast<uint32_t>(s), layer, &links);
      mapped.clear();
      for (uint32_t l : links) {
        const uint32_t m = l < old_to_new.size() ? old_to_new[l] : kInvalidSlot;
        if (m != kInvalidSlot && m < new_capacity) mapped.push_back(m);
      }
      fresh.WriteLinks(to, layer, mapped);
    }
  }
  uint32_t entry = entry_point();
  entry = (entry != kInvalidSlot && entry < old_to_new.size()) ? old_to_new[entry] : kInvalidSlot;
  if (entry == kInvalidSlot || entry >= new_capacity || fresh.levels_[entry] < 0) {
    entry = kInvalidSlot;
    int best = -1;
    for (size_t s = 0; s < new_capacity; ++s) {
      if (fresh.levels_[s] > best) {
        best = fresh.levels_[s];
        entry = static_cast<uint32_t>(s);
      }
    }
  }
  level0_ = std::move(fresh.level0_);
  upper_ = std::move(fresh.upper_);
  levels_ = std::move(fresh.levels_);
  deleted_ = std::move(fresh.deleted_);
  capacity_ = fresh.capacity_;
  entry_point_.store(entry, std::memory_order_release);
  inserted_.store(inserted, std::memory_order_relaxed);
  deleted_count_.store(deleted, std::memory_order_relaxed);
  visited_pool_.Clear();
}

void HnswGraph::Serialize(size_t slots, std::string* out) const {
  slots = std::min(slots, capacity_);
  PutFixed32(out, kGraphMagic);
  PutFixed32(out, kGraphVersion);
  PutFixed32(out, max_links_);
  PutFixed32(out, options_.ef_construction);
  PutFixed64(out, options_.seed);
  PutFixed64(out, slots);
  PutFixed32(out, entry_point());
  PutFixed32(out, 0);
  out->append(reinterpret_cast<const char*>(levels_.data()), slots);
  out->append(reinterpret_cast<const char*>(deleted_.data()), slots);
  PadTo8(out);
  static_assert(std::endian::native == std::endian::little);
  out->append(reinterpret_cast<const char*>(level0_.get()),
              slots * level0_stride_ * sizeof(uint32_t));
  for (size_t s = 0; s < slots; ++s) {
    if (levels_[s] > 0) {
      out->append(reinterpret_cast<const char*>(upper_[s].get()),
                  static_cast<size_t>(levels_[s]) * (max_links_ + 1) * sizeof(uint32_t));
    }
  }
}

Result<std::unique_ptr<HnswGraph>> HnswGraph::Deserialize(std::string_view bytes, size_t capacity) {
  auto corrupt = [](std::string what) { return Status::Corruption("hnsw graph: " + what); };
  ByteReader reader(bytes);
  uint32_t magic = 0, version = 0, m = 0, ef = 0, entry = 0, pad = 0;
  uint64_t seed = 0, slots = 0;
  if (!reader.ReadFixed32(&magic) || !reader.ReadFixed32(&version) || !reader.ReadFixed32(&m) ||
      !reader.ReadFixed32(&ef) || !reader.ReadFixed64(&seed) || !reader.ReadFixed64(&slots) ||
      !reader.ReadFixed32(&entry) || !reader.ReadFixed32(&pad)) {
    return corrupt("truncated header");
  }
  if (magic != kGraphMagic) return corrupt("bad magic");
  if (version != kGraphVersion) return corrupt("unsupported version " + std::to_string(version));
  if (m < 2 || m > kMaxM) return corrupt("bad m");
  if (slots > capacity || slots >= kInvalidSlot) return corrupt("slot count mismatch");
  const size_t stride = 2 * static_cast<size_t>(m) + 1;
  std::string_view levels_bytes, deleted_bytes, level0_bytes, skip;
  if (!reader.ReadBytes(slots, &levels_bytes) || !reader.ReadBytes(slots, &deleted_bytes) ||
      !reader.ReadBytes((8 - (2 * slots) % 8) % 8, &skip) ||
      !reader.ReadBytes(slots * stride * sizeof(uint32_t), &level0_bytes)) {
    return corrupt("truncated arrays");
  }
  HnswGraphOptions options;
  options.m = m;
  options.ef_construction = ef;
  options.seed = seed;
  auto graph = std::make_unique<HnswGraph>(options, capacity);
  std::memcpy(graph->levels_.data(), levels_bytes.data(), slots);
  std::memcpy(graph->deleted_.data(), deleted_bytes.data(), slots);
  std::memcpy(graph->level0_.get(), level0_bytes.data(), level0_bytes.size());
  size_t inserted = 0, deleted = 0;
  for (size_t s = 0; s < slots; ++s) {
    const int level = graph->levels_[s];
    if (level < -1 || level > kMaxLevel) return corrupt("bad level");
    if (graph->deleted_[s] > 1) return corrupt("bad deleted flag");
    deleted += graph->deleted_[s];
    if (level < 0) continue;
    ++inserted;
    if (level > 0) {
      const size_t words = static_cast<size_t>(level) * (m + 1);
      std::string_view block;
      if (!reader.ReadBytes(words * sizeof(uint32_t), &block)) return corrupt("truncated upper");
      graph->upper_[s] = std::make_unique<uint32_t[]>(words);
      std::memcpy(graph->upper_[s].get(), block.data(), block.size());
    }
  }
  if (reader.remaining() != 0) return corrupt("trailing bytes");
  // Every link must name an inserted node that lives on that layer.
  for (size_t s = 0; s < slots; ++s) {
    const int level = graph->levels_[s];
    if (level < 0) {
      if (graph->level0_[s * stride] != 0) return corrupt("links on an absent node");
      continue;
    }
    for (int layer = 0; layer <= level; ++layer) {
      const uint32_t* list = graph->Links(static_cast<uint32_t>(s), layer);
      if (list[0] > graph->MaxLinks(layer)) return corrupt("bad link count");
      for (uint32_t i = 0; i < list[0]; ++i) {
        const uint32_t to = list[1 + i];
        if (to >= slots || graph->levels_[to] < layer) return corrupt("bad link");
      }
    }
  }
  if (inserted == 0) {
    if (entry != kInvalidSlot) return corrupt("entry point in an empty graph");
  } else if (entry >= slots || graph->levels_[entry] < 0) {
    return corrupt("bad entry point");
  }
  graph->entry_point_.store(entry, std::memory_order_release);
  graph->inserted_.store(inserted, std::memory_order_relaxed);
  graph->deleted_count_.store(deleted, std::memory_order_relaxed);
  return graph;
}

}  // namespace quarry::index::dense
