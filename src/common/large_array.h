// Large zeroed arrays backed by transparent huge pages where the kernel allows
// them (THP "madvise" mode, Debian's default, gives none without asking).
//
// The dense index's codes and graph are walked at random: at a million
// vectors every step of a search is a TLB miss with 4 KiB pages. Asking for
// 2 MiB pages before the array is first touched makes them huge at fault time.
//
// Thread-safety: reentrant.
#ifndef QUARRY_COMMON_LARGE_ARRAY_H_
#define QUARRY_COMMON_LARGE_ARRAY_H_

#include <cstddef>
#include <cstring>
#include <memory>
#include <type_traits>

namespace quarry {

// Asks for huge pages over the 2 MiB-aligned part of [data, data + bytes).
// Does nothing for arrays under 4 MiB or where madvise refuses.
void AdviseHugePages(void* data, size_t bytes);

// `n` zeroed elements, huge pages advised before the zeroing touches them.
template <typename T>
std::unique_ptr<T[]> MakeLargeArray(size_t n) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::unique_ptr<T[]> array(new T[n]);  // default-initialised: untouched
  AdviseHugePages(array.get(), n * sizeof(T));
  std::memset(static_cast<void*>(array.get()), 0, n * sizeof(T));
  return array;
}

}  // namespace quarry

#endif  // QUARRY_COMMON_LARGE_ARRAY_H_
