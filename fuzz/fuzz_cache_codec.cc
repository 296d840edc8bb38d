// libFuzzer target: the cache's value records (DecodeFloats) and Redis URL
// parser (ParseRedisUrl), which read bytes from a shared Redis and from
// configuration.
//
// Traps when a contract breaks: a record that decodes but does not re-encode
// to the same bytes, a decoded non-finite value or wrong dimension, or a
// parsed URL outside its documented ranges (empty host, port outside
// 1..65535, negative db) or an error without a message.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cache.h"
#include "cache/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // The record with the dimension its size implies, and with others.
  std::vector<float> out;
  const size_t implied = size >= quarry::cache::kFloatRecordHeader
                             ? (size - quarry::cache::kFloatRecordHeader) / 4
                             : 0;
  for (size_t dim : {implied, implied + 1, size_t{0}, size_t{3}}) {
    if (!quarry::cache::DecodeFloats(input, dim, &out)) {
      if (!out.empty()) __builtin_trap();
      continue;
    }
    if (out.size() != dim) __builtin_trap();
    for (float v : out) {
      if (!std::isfinite(v)) __builtin_trap();
    }
    if (quarry::cache::EncodeFloats(out) != input) __builtin_trap();
  }

  // The same bytes as a URL, bare and behind the scheme.
  for (const std::string& url : {std::string(input), "redis://" + std::string(input)}) {
    auto parsed = quarry::cache::ParseRedisUrl(url);
    if (!parsed.ok()) {
      if (parsed.status().message().empty()) __builtin_trap();
      continue;
    }
    if (parsed->host.empty() || parsed->port < 1 || parsed->port > 65535 || parsed->db < 0) {
      __builtin_trap();
    }
    if (!parsed->user.empty() && parsed->password.empty()) __builtin_trap();
  }
  return 0;
}
