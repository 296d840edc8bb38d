// Fast non-cryptographic 64-bit hashing, used for content hashes (detecting
// changed documents) and hash tables. Not for adversarial input.
//
// Thread-safety: pure functions.
#ifndef QUARRY_COMMON_HASH_H_
#define QUARRY_COMMON_HASH_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace quarry {

inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Hashes 8 bytes at a time; equal input gives equal output on every platform
// (little-endian loads assumed: x86-64, aarch64).
inline uint64_t Hash64(std::string_view data, uint64_t seed = 0x9E3779B97F4A7C15ULL) {
  uint64_t h = seed ^ (data.size() * 0x100000001b3ULL);
  const char* p = data.data();
  size_t n = data.size();
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    h = (h ^ Mix64(word)) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p, n);
  h = (h ^ Mix64(tail ^ n)) * 0x9E3779B97F4A7C15ULL;
  return Mix64(h);
}

// 128 bits (two differently seeded Hash64) as 32 hex digits: content keys
// where a 64-bit collision would be a wrong answer (cache keys).
inline std::string HashHex128(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  const uint64_t parts[2] = {Hash64(data), Hash64(data, 0xD6E8FEB86659FD93ULL)};
  std::string out(32, '0');
  for (int part = 0; part < 2; ++part) {
    for (int nibble = 0; nibble < 16; ++nibble) {
      out[part * 16 + nibble] = kHex[(parts[part] >> (60 - 4 * nibble)) & 0xF];
    }
  }
  return out;
}

}  // namespace quarry

#endif  // QUARRY_COMMON_HASH_H_
