// CRC-32C (Castagnoli), the checksum of every Quarry on-disk format.
//
// Thread-safety: pure functions.
#ifndef QUARRY_COMMON_CRC32C_H_
#define QUARRY_COMMON_CRC32C_H_

#include <cstdint>
#include <string_view>

namespace quarry {

// Extends `crc` (0 to start) over `data`.
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace quarry

#endif  // QUARRY_COMMON_CRC32C_H_
