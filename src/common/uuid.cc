// CanonicalUuid (declared with the points API in quarry/points.h): here so
// that the wire decoders, which link without the engine, can use it.
#include <cctype>
#include <string>
#include <string_view>

#include "quarry/points.h"

namespace quarry {

Result<std::string> CanonicalUuid(std::string_view text) {
  std::string_view rest = text;
  if (rest.size() > 9 && (rest.substr(0, 9) == "urn:uuid:" || rest.substr(0, 9) == "URN:UUID:")) {
    rest.remove_prefix(9);
  }
  std::string hex;
  for (size_t i = 0; i < rest.size(); ++i) {
    char c = rest[i];
    if (c == '-' && (i == 8 || i == 13 || i == 18 || i == 23) && rest.size() == 36) continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return Status::InvalidArgument("'" + std::string(text.substr(0, 64)) +
                                     "' is not a valid point id (an unsigned integer or a UUID)");
    }
    hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (hex.size() != 32) {
    return Status::InvalidArgument("'" + std::string(text.substr(0, 64)) +
                                   "' is not a valid point id (an unsigned integer or a UUID)");
  }
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

}  // namespace quarry
