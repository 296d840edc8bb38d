// Key paths into JSON payloads, in Qdrant's syntax: names separated by dots
// walk into objects ("a.b"), "[]" after a name takes every element of an
// array ("a[].b"), "[N]" the element at index N ("a[0]").
//
// Shared by the server's filter decoder (to name a bad key where it is) and
// the collection's filter evaluator (to walk payloads).
//
// Thread-safety: pure functions.
#ifndef QUARRY_COMMON_JSON_PATH_H_
#define QUARRY_COMMON_JSON_PATH_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "quarry/status.h"

namespace quarry {

struct JsonPathStep {
  enum class Kind { kKey, kEach, kIndex };
  Kind kind = Kind::kKey;
  std::string key;   // kKey
  size_t index = 0;  // kIndex
};

inline constexpr size_t kMaxJsonPathBytes = 1024;

// InvalidArgument (naming the problem and its byte offset) for an empty path,
// an empty name, an unclosed or malformed bracket, or a path longer than
// kMaxJsonPathBytes.
Result<std::vector<JsonPathStep>> ParseJsonPath(std::string_view path);

}  // namespace quarry

#endif  // QUARRY_COMMON_JSON_PATH_H_
