#include "cache/codec.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/file_util.h"

namespace quarry::cache {
namespace {

constexpr char kMagic[3] = {'Q', 'V', 'F'};
constexpr uint8_t kVersion = 1;

}  // namespace

std::string EncodeFloats(std::span<const float> values) {
  std::string out;
  out.reserve(kFloatRecordHeader + values.size() * sizeof(float));
  out.append(kMagic, sizeof(kMagic));
  out.push_back(static_cast<char>(kVersion));
  PutFixed32(&out, static_cast<uint32_t>(values.size()));
  if constexpr (std::endian::native == std::endian::little) {
    out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  } else {
    for (float v : values) PutFixed32(&out, std::bit_cast<uint32_t>(v));
  }
  return out;
}

bool DecodeFloats(std::string_view record, size_t expected_dim, std::vector<float>* out) {
  out->clear();
  if (record.size() < kFloatRecordHeader) return false;
  if (std::memcmp(record.data(), kMagic, sizeof(kMagic)) != 0) return false;
  if (static_cast<uint8_t>(record[3]) != kVersion) return false;
  const uint32_t dim = DecodeFixed32(record.data() + 4);
  if (dim != expected_dim) return false;
  if (record.size() - kFloatRecordHeader != static_cast<uint64_t>(dim) * sizeof(float)) {
    return false;
  }
  out->resize(dim);
  const char* p = record.data() + kFloatRecordHeader;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(out->data(), p, dim * sizeof(float));
  } else {
    for (uint32_t i = 0; i < dim; ++i) (*out)[i] = std::bit_cast<float>(DecodeFixed32(p + 4 * i));
  }
  for (float v : *out) {
    if (!std::isfinite(v)) {
      out->clear();
      return false;
    }
  }
  return true;
}

}  // namespace quarry::cache
