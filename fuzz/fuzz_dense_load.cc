// Fuzzes DenseIndex::Load: the input is split into dense.idx and dense.orig
// (a u32 length of the first part, then both parts), written to a scratch
// folder and loaded. Loading must fail cleanly or give an index that answers
// searches and saves again.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "index/dense/dense_index.h"

namespace {

std::filesystem::path ScratchDir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base =
        std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    auto path = base / ("quarry_fuzz_dense_" + std::to_string(::getpid()));
    std::filesystem::create_directories(path);
    return path;
  }();
  return dir;
}

void WriteFile(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint32_t first = 0;
  std::memcpy(&first, data, 4);
  data += 4;
  size -= 4;
  if (first > size) first = static_cast<uint32_t>(size);
  const auto dir = ScratchDir();
  WriteFile(dir / "dense.idx", data, first);
  if (size > first) {
    WriteFile(dir / "dense.orig", data + first, size - first);
  } else {
    std::filesystem::remove(dir / "dense.orig");
  }
  uint64_t seq = 0;
  auto index = quarry::index::dense::DenseIndex::Load(dir, &seq);
  if (!index.ok()) return 0;
  std::vector<float> query((*index)->options().dim, 0.5f);
  quarry::index::dense::DenseSearchParams params;
  params.k = 5;
  (void)(*index)->Search(query, params);
  params.exact = true;
  (void)(*index)->Search(query, params);
  (void)(*index)->Stats();
  return 0;
}
