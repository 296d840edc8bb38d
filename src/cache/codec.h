// Compact binary value records stored in the cache.
//
// A float vector is "QVF" + a version byte (1), its dimension as a
// little-endian u32, then the values as little-endian IEEE-754 float32:
// 8 + 4·dim bytes. Decoding checks everything (magic, version, exact size,
// expected dimension, finite values), so a record written by another version,
// truncated in transit or corrupted in Redis reads as a miss, never as a wrong
// vector.
//
// Thread-safety: pure functions.
#ifndef QUARRY_CACHE_CODEC_H_
#define QUARRY_CACHE_CODEC_H_

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace quarry::cache {

inline constexpr size_t kFloatRecordHeader = 8;

std::string EncodeFloats(std::span<const float> values);

// Replaces *out with the decoded values. False (and *out cleared) when the
// record is not a version-1 float record of exactly `expected_dim` finite values.
bool DecodeFloats(std::string_view record, size_t expected_dim, std::vector<float>* out);

}  // namespace quarry::cache

#endif  // QUARRY_CACHE_CODEC_H_
