// Fuzzes the sparse vector index snapshot decoder. A payload that decodes must
// give an index whose Search agrees with SearchExhaustive and whose
// serialisation round-trips.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "index/sparse/sparse_vector_index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto index = quarry::index::SparseVectorIndex::Deserialize(bytes);
  if (!index.ok()) return 0;
  auto stats = index->Stats();
  (void)stats;
  const std::vector<uint32_t> indices = {0, 1, 3, 5, 1000};
  const std::vector<float> values = {1.0f, -0.5f, 2.0f, 0.25f, 1.0f};
  const quarry::index::SparseVectorView query{indices, values};
  auto hits = index->Search(query, 10);
  if (!hits.ok()) __builtin_trap();
  auto exact = index->SearchExhaustive(query, 10);
  if (hits->size() != exact.size()) __builtin_trap();
  for (size_t i = 0; i < exact.size(); ++i) {
    if ((*hits)[i].point_id != exact[i].point_id) __builtin_trap();
  }
  // Varints may be non-canonical in the input; a re-serialisation is canonical
  // and must round-trip exactly.
  const std::string again = index->Serialize();
  auto reloaded = quarry::index::SparseVectorIndex::Deserialize(again);
  if (!reloaded.ok() || reloaded->Serialize() != again) __builtin_trap();
  return 0;
}
