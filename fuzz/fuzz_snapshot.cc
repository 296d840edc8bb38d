// Fuzzes the snapshot reader: the framing (magic, length, CRC) and the BM25
// payload decoder behind it. The first byte picks the target so the fuzzer
// also reaches the payload decoder without forging a CRC. A payload that
// decodes must give an index that answers queries and re-serialises.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "index/sparse/bm25_index.h"
#include "storage/snapshot_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string payload;
  if (data[0] & 1) {
    auto snapshot = quarry::storage::ParseSnapshot(bytes, quarry::storage::SnapshotKind::kBm25Index);
    if (!snapshot.ok()) return 0;
    payload = std::move(snapshot->payload);
  } else {
    payload.assign(bytes);
  }
  auto index = quarry::index::Bm25Index::Deserialize(payload);
  if (!index.ok()) return 0;
  auto stats = index->Stats();
  (void)stats;
  auto hits = index->Search({"a", "b", "the", "x"}, 10);
  auto exact = index->SearchExhaustive({"a", "b", "the", "x"}, 10);
  if (hits.size() != exact.size()) __builtin_trap();
  std::string again = index->Serialize();
  if (!quarry::index::Bm25Index::Deserialize(again).ok()) __builtin_trap();
  return 0;
}
