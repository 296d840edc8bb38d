#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/crc32c.h"
#include "common/file_util.h"
#include "common/json_path.h"
#include "common/large_array.h"
#include "quarry/status.h"

namespace quarry {
namespace {

TEST(Crc32cTest, KnownVectors) {
  // RFC 3720 B.4 test vectors.
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::string data = "The quick brown fox jumps over the lazy dog, twice over.";
  for (size_t split = 0; split <= data.size(); ++split) {
    uint32_t part = Crc32c(std::string_view(data).substr(0, split));
    EXPECT_EQ(Crc32c(std::string_view(data).substr(split), part), Crc32c(data)) << split;
  }
}

TEST(StatusTest, CodesAndMessages) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  Status nf = Status::NotFound("collection 'x'");
  EXPECT_FALSE(nf.ok());
  EXPECT_TRUE(nf.IsNotFound());
  EXPECT_EQ(nf.ToString(), "NotFound: collection 'x'");
  EXPECT_EQ(nf.WithContext("open").message(), "open: collection 'x'");
}

Result<int> Half(int v) {
  if (v % 2) return Status::InvalidArgument("odd");
  return v / 2;
}

Status UseHalf(int v, int* out) {
  QUARRY_ASSIGN_OR_RETURN(*out, Half(v));
  return Status::OK();
}

TEST(ResultTest, ValueOrError) {
  int out = 0;
  EXPECT_TRUE(UseHalf(8, &out).ok());
  EXPECT_EQ(out, 4);
  Status st = UseHalf(7, &out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
}

TEST(FileUtilTest, AtomicWriteAndRead) {
  auto dir = std::filesystem::temp_directory_path() / ("quarry_fu_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / "f.bin";
  ASSERT_TRUE(WriteFileAtomic(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomic(path, std::string("se\0cond", 7)).ok());
  auto read = ReadFileToString(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, std::string("se\0cond", 7));
  EXPECT_FALSE(ReadFileToString(path, 3).ok());
  EXPECT_TRUE(ReadFileToString(dir / "missing").status().IsNotFound());
  // No temporary files left behind.
  size_t files = 0;
  for (auto& entry : std::filesystem::directory_iterator(dir)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1u);
  std::filesystem::remove_all(dir);
}

TEST(FileUtilTest, ByteReaderBounds) {
  std::string buf;
  PutFixed32(&buf, 0xDEADBEEF);
  PutFixed64(&buf, 0x0123456789ABCDEFull);
  ByteReader reader(buf);
  uint32_t a;
  uint64_t b;
  ASSERT_TRUE(reader.ReadFixed32(&a));
  ASSERT_TRUE(reader.ReadFixed64(&b));
  EXPECT_EQ(a, 0xDEADBEEFu);
  EXPECT_EQ(b, 0x0123456789ABCDEFull);
  EXPECT_FALSE(reader.ReadFixed32(&a));
  EXPECT_EQ(DecodeKey64(EncodeKey64(42)), 42u);
  EXPECT_LT(EncodeKey64(255), EncodeKey64(256));
}

}  // namespace
}  // namespace quarry

#include "common/hash.h"

namespace quarry {
namespace {

TEST(HashTest, DistinguishesCloseInputs) {
  EXPECT_EQ(Hash64("hello world"), Hash64("hello world"));
  EXPECT_NE(Hash64("hello world"), Hash64("hello worle"));
  EXPECT_NE(Hash64(""), Hash64(std::string_view("\0", 1)));
  EXPECT_NE(Hash64("abcdefgh"), Hash64(std::string_view("abcdefgh\0", 9)));
  EXPECT_NE(Hash64("a", 1), Hash64("a", 2));
}

TEST(JsonPathTest, ParsesQdrantKeyPaths) {
  auto path = ParseJsonPath("a.b[].c[2][]");
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  ASSERT_EQ(path->size(), 6u);
  EXPECT_EQ((*path)[0].key, "a");
  EXPECT_EQ((*path)[1].key, "b");
  EXPECT_EQ((*path)[2].kind, JsonPathStep::Kind::kEach);
  EXPECT_EQ((*path)[3].key, "c");
  EXPECT_EQ((*path)[4].kind, JsonPathStep::Kind::kIndex);
  EXPECT_EQ((*path)[4].index, 2u);
  EXPECT_EQ((*path)[5].kind, JsonPathStep::Kind::kEach);
  auto spaced = ParseJsonPath("with space");
  ASSERT_TRUE(spaced.ok());
  EXPECT_EQ((*spaced)[0].key, "with space");
  for (const char* bad : {"", ".a", "a.", "a..b", "[]", "a[", "a[x]", "a]", "a[1]b", "a.[0]",
                          "a[99999999999]"}) {
    auto result = ParseJsonPath(bad);
    EXPECT_FALSE(result.ok()) << bad;
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(ParseJsonPath(std::string(kMaxJsonPathBytes + 1, 'a')).ok());
}

}  // namespace
TEST(LargeArrayTest, ZeroedAndWritableAtEverySize) {
  // Under, at and over the sizes where huge pages are advised, and a size
  // that ends mid huge page.
  for (size_t n : {size_t{1}, size_t{4095}, size_t{4} << 20, (size_t{9} << 20) + 12345}) {
    auto array = quarry::MakeLargeArray<uint32_t>(n);
    size_t nonzero = 0;
    for (size_t i = 0; i < n; ++i) nonzero += array[i] != 0;
    EXPECT_EQ(nonzero, 0u) << n;
    for (size_t i = 0; i < n; ++i) array[i] = static_cast<uint32_t>(i * 2654435761u);
    EXPECT_EQ(array[n - 1], static_cast<uint32_t>((n - 1) * 2654435761u));
  }
  quarry::AdviseHugePages(nullptr, size_t{1} << 30);  // ignored, no crash
}

}  // namespace quarry
