// File helpers: whole-file reads, crash-safe replacement of a file, and
// little-endian encoding used by the on-disk formats.
//
// Thread-safety: reentrant functions; concurrent writers of one path race.
#ifndef QUARRY_COMMON_FILE_UTIL_H_
#define QUARRY_COMMON_FILE_UTIL_H_

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "quarry/status.h"

namespace quarry {

// Reads a whole file. IOError (with errno text) when it cannot; InvalidArgument
// when larger than `max_bytes`.
Result<std::string> ReadFileToString(const std::filesystem::path& path,
                                     uint64_t max_bytes = UINT64_MAX);

// Writes `data` to `path` so that after a crash the path holds either the old
// or the new contents, never a mix: write to a temporary sibling, fsync it,
// rename over `path`, fsync the directory. ResourceExhausted on ENOSPC/EFBIG.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data);

// An exclusive advisory lock (flock) on a file, held until destruction. Used so
// that one process at a time writes a collection.
class FileLock {
 public:
  // FailedPrecondition naming the holder's pid when another process holds it.
  static Result<std::unique_ptr<FileLock>> TryAcquire(const std::filesystem::path& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

// Maps errno to a Status with `what` as context.
Status ErrnoStatus(std::string_view what, int err);

// Little-endian fixed-width encoding.
inline void PutFixed32(std::string* out, uint32_t v) {
  char buf[4];
  for (int i = 0; i < 4; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  out->append(buf, 4);
}
inline void PutFixed64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  out->append(buf, 8);
}
inline uint32_t DecodeFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
// Big-endian 64-bit: keys that sort numerically in LMDB.
inline std::string EncodeKey64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (56 - 8 * i)) & 0xFF);
  return out;
}
inline uint64_t DecodeKey64(std::string_view key) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < key.size(); ++i) v = (v << 8) | static_cast<unsigned char>(key[i]);
  return v;
}

// A bounds-checked reader over a byte buffer for decoding untrusted data.
class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}
  bool ReadFixed32(uint32_t* v) {
    if (remaining() < 4) return false;
    *v = DecodeFixed32(data_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool ReadFixed64(uint64_t* v) {
    if (remaining() < 8) return false;
    *v = DecodeFixed64(data_.data() + pos_);
    pos_ += 8;
    return true;
  }
  bool ReadFloat(float* v) {
    uint32_t bits;
    if (!ReadFixed32(&bits)) return false;
    std::memcpy(v, &bits, 4);
    return true;
  }
  bool ReadBytes(size_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

inline void PutFloat(std::string* out, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  PutFixed32(out, bits);
}

// LEB128 varints (7 bits a byte, low first), for snapshot payloads.
inline void PutVarint64(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// False on a truncated varint or one that would overflow 64 bits.
inline bool GetVarint64(ByteReader* reader, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    std::string_view byte;
    if (!reader->ReadBytes(1, &byte)) return false;
    const uint64_t b = static_cast<unsigned char>(byte[0]);
    if (shift == 63 && b > 1) return false;
    result |= (b & 0x7F) << shift;
    if ((b & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

}  // namespace quarry

#endif  // QUARRY_COMMON_FILE_UTIL_H_
