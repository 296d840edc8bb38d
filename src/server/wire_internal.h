// Helpers shared by the wire decoders (wire.cc, points_wire.cc): typed field
// access with errors that name the field. Internal to src/server/.
//
// Thread-safety: pure functions.
#ifndef QUARRY_SERVER_WIRE_INTERNAL_H_
#define QUARRY_SERVER_WIRE_INTERNAL_H_

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "quarry/status.h"

namespace quarry::server::wire_internal {

// InvalidArgument "where: what" ("what" alone when where is empty).
Status Invalid(const std::string& where, const std::string& what);
// "where: expected EXPECTED, got TYPE".
Status WrongType(const std::string& where, const char* expected, const nlohmann::json& got);
// ResourceExhausted (answer 413): more items than one call may carry.
Status TooMany(const std::string& where, size_t count, size_t limit);
// Checks that `object` has only keys from `known`; names the first other one.
Status OnlyKeys(const nlohmann::json& object, std::initializer_list<std::string_view> known,
                const std::string& where);
Status GetString(const nlohmann::json& object, const char* key, std::string* out, bool required,
                 const std::string& where = "");
Status GetBool(const nlohmann::json& object, const char* key, bool* out,
               const std::string& where = "");
// Integers only (10.0 is refused), within [min, max].
Status GetInt(const nlohmann::json& value, const std::string& name, int64_t min, int64_t max,
              int64_t* out);
Status GetOptionalInt(const nlohmann::json& object, const char* key, int64_t min, int64_t max,
                      std::optional<int64_t>* out, const std::string& where = "");
Status GetOptionalNumber(const nlohmann::json& object, const char* key, double min, double max,
                         std::optional<double>* out, const std::string& where);

}  // namespace quarry::server::wire_internal

#endif  // QUARRY_SERVER_WIRE_INTERNAL_H_
