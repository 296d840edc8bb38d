#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "common/file_util.h"

namespace quarry::model {
namespace {

bool ParseDType(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> kNames[] = {
      {"F32", DType::kF32}, {"F16", DType::kF16}, {"BF16", DType::kBF16},
      {"F64", DType::kF64}, {"I64", DType::kI64}, {"I32", DType::kI32},
      {"I16", DType::kI16}, {"I8", DType::kI8},   {"U8", DType::kU8},
      {"BOOL", DType::kBool}};
  for (const auto& [name, t] : kNames) {
    if (s == name) {
      *out = t;
      return true;
    }
  }
  return false;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace

std::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kF64: return "F64";
    case DType::kI64: return "I64";
    case DType::kI32: return "I32";
    case DType::kI16: return "I16";
    case DType::kI8: return "I8";
    case DType::kU8: return "U8";
    case DType::kBool: return "BOOL";
  }
  return "?";
}

size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF64: case DType::kI64: return 8;
    case DType::kF32: case DType::kI32: return 4;
    case DType::kF16: case DType::kBF16: case DType::kI16: return 2;
    case DType::kI8: case DType::kU8: case DType::kBool: return 1;
  }
  return 1;
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float Bf16ToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) munmap(map_, map_size_);
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::filesystem::path& path) {
  const std::string p = path.string();
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(p, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    Status s = ErrnoStatus(p, errno);
    ::close(fd);
    return s;
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return Status::Corruption(p + ": too short for a safetensors header");
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return ErrnoStatus(p + ": mmap", errno);
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = p;
  file->map_ = map;
  file->map_size_ = size;
  const auto* bytes = static_cast<const uint8_t*>(map);

  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes, 8);  // little-endian host (x86-64)
  if (header_len > size - 8 || header_len > (100u << 20)) {
    return Status::Corruption(p + ": header length " + std::to_string(header_len) +
                              " exceeds the file");
  }
  nlohmann::json header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len, nullptr,
                                                /*allow_exceptions=*/false);
  if (!header.is_object()) return Status::Corruption(p + ": header is not a JSON object");
  const size_t data_start = 8 + header_len;
  const size_t data_size = size - data_start;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string where = p + ": tensor '" + it.key() + "'";
    const nlohmann::json& info = it.value();
    if (!info.is_object() || !info.contains("dtype") || !info["dtype"].is_string() ||
        !info.contains("shape") || !info["shape"].is_array() || !info.contains("data_offsets") ||
        !info["data_offsets"].is_array() || info["data_offsets"].size() != 2) {
      return Status::Corruption(where + ": needs dtype, shape and data_offsets");
    }
    TensorView view;
    if (!ParseDType(info["dtype"].get<std::string>(), &view.dtype)) {
      return Status::Unsupported(where + ": unknown dtype '" + info["dtype"].get<std::string>() +
                                 "'");
    }
    uint64_t numel = 1;
    for (const auto& d : info["shape"]) {
      if (!d.is_number_unsigned()) return Status::Corruption(where + ": bad shape");
      uint64_t v = d.get<uint64_t>();
      if (v != 0 && numel > std::numeric_limits<uint64_t>::max() / v / 8) {
        return Status::Corruption(where + ": shape overflows");
      }
      numel *= v;
      view.shape.push_back(static_cast<int64_t>(v));
    }
    const auto& offs = info["data_offsets"];
    if (!offs[0].is_number_unsigned() || !offs[1].is_number_unsigned()) {
      return Status::Corruption(where + ": bad data_offsets");
    }
    uint64_t begin = offs[0].get<uint64_t>(), end = offs[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      return Status::Corruption(where + ": data_offsets [" + std::to_string(begin) + ", " +
                                std::to_string(end) + ") outside the " +
                                std::to_string(data_size) + "-byte data section");
    }
    if (end - begin != numel * DTypeSize(view.dtype)) {
      return Status::Corruption(where + ": " + std::to_string(end - begin) + " bytes for shape " +
                                ShapeString(view.shape) + " of " +
                                std::string(DTypeName(view.dtype)));
    }
    view.data = bytes + data_start + begin;
    view.bytes = end - begin;
    file->tensors_.emplace(it.key(), std::move(view));
  }
  return file;
}

const TensorView* SafetensorsFile::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

Status SafetensorsFile::ReadFloat(const std::string& name,
                                  const std::vector<int64_t>& expected_shape,
                                  std::vector<float>* out) const {
  const TensorView* t = Find(name);
  if (t == nullptr) return Status::NotFound(path_ + ": missing tensor '" + name + "'");
  if (!expected_shape.empty() && t->shape != expected_shape) {
    return Status::InvalidArgument(path_ + ": tensor '" + name + "' has shape " +
                                   ShapeString(t->shape) + ", expected " +
                                   ShapeString(expected_shape));
  }
  const size_t n = static_cast<size_t>(t->numel());
  out->resize(n);
  float* dst = out->data();
  switch (t->dtype) {
    case DType::kF32:
      std::memcpy(dst, t->data, n * 4);
      break;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t->data + 2 * i, 2);
        dst[i] = HalfToFloat(h);
      }
      break;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t->data + 2 * i, 2);
        dst[i] = Bf16ToFloat(h);
      }
      break;
    case DType::kF64:
      for (size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, t->data + 8 * i, 8);
        dst[i] = static_cast<float>(d);
      }
      break;
    default:
      return Status::InvalidArgument(path_ + ": tensor '" + name + "' has dtype " +
                                     std::string(DTypeName(t->dtype)) +
                                     ", expected a floating-point type");
  }
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(dst[i])) {
      return Status::InvalidArgument(path_ + ": tensor '" + name + "' holds NaN or Inf");
    }
  }
  return Status::OK();
}

}  // namespace quarry::model
