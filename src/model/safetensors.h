// Reader for Hugging Face .safetensors files, memory-mapped.
//
// Format: an 8-byte little-endian header length N, N bytes of JSON mapping
// tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the first byte after the header), optionally "__metadata__",
// then the tensor bytes. Every offset, shape and dtype is validated against the
// file size on open, so a truncated or hostile file gives an error, never an
// out-of-bounds read.
//
// Thread-safety: immutable after Open; reads from many threads are safe.
// Ownership: tensor views point into the mapping and live as long as the file.
#ifndef QUARRY_MODEL_SAFETENSORS_H_
#define QUARRY_MODEL_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "quarry/status.h"

namespace quarry::model {

enum class DType { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

std::string_view DTypeName(DType t);
size_t DTypeSize(DType t);

struct TensorView {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapping; not necessarily aligned
  size_t bytes = 0;

  int64_t numel() const;
};

class SafetensorsFile {
 public:
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  static Result<std::unique_ptr<SafetensorsFile>> Open(const std::filesystem::path& path);

  // nullptr when absent.
  const TensorView* Find(const std::string& name) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::string& path() const { return path_; }

  // Copies a floating-point tensor (f32, f16, bf16, f64) into float32.
  // Fails with a message naming the tensor when it is absent, not floating-point,
  // or its shape differs from `expected_shape` (when given).
  Status ReadFloat(const std::string& name, const std::vector<int64_t>& expected_shape,
                   std::vector<float>* out) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, TensorView> tensors_;
};

// Half-precision conversions (exact; round-to-nearest-even for float -> bf16).
float HalfToFloat(uint16_t h);
float Bf16ToFloat(uint16_t b);
uint16_t FloatToBf16(float f);

}  // namespace quarry::model

#endif  // QUARRY_MODEL_SAFETENSORS_H_
