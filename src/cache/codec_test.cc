#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cache/cache.h"
#include "cache/codec.h"

namespace quarry::cache {
namespace {

TEST(CodecTest, RoundTrip) {
  for (size_t dim : {0, 1, 3, 384, 1024}) {
    std::vector<float> values(dim);
    for (size_t i = 0; i < dim; ++i) values[i] = static_cast<float>(i) * 0.25f - 7.5f;
    const std::string record = EncodeFloats(values);
    EXPECT_EQ(record.size(), kFloatRecordHeader + 4 * dim);
    std::vector<float> out = {42.0f};
    ASSERT_TRUE(DecodeFloats(record, dim, &out)) << dim;
    EXPECT_EQ(out, values);
  }
}

TEST(CodecTest, LayoutIsLittleEndianBehindHeader) {
  const float one = 1.0f;
  const std::string record = EncodeFloats(std::span<const float>(&one, 1));
  ASSERT_EQ(record.size(), 12u);
  EXPECT_EQ(record.substr(0, 3), "QVF");
  EXPECT_EQ(record[3], '\x01');
  EXPECT_EQ(record.substr(4, 4), std::string("\x01\x00\x00\x00", 4));
  EXPECT_EQ(record.substr(8, 4), std::string("\x00\x00\x80\x3f", 4));
}

TEST(CodecTest, RejectsTruncatedAndExtended) {
  const std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f};
  const std::string record = EncodeFloats(values);
  std::vector<float> out;
  for (size_t len = 0; len < record.size(); ++len) {
    EXPECT_FALSE(DecodeFloats(record.substr(0, len), values.size(), &out)) << len;
    EXPECT_TRUE(out.empty());
  }
  EXPECT_FALSE(DecodeFloats(record + "x", values.size(), &out));
  EXPECT_TRUE(DecodeFloats(record, values.size(), &out));
}

TEST(CodecTest, RejectsWrongMagicVersionAndDim) {
  const std::vector<float> values = {1.0f, 2.0f};
  const std::string record = EncodeFloats(values);
  std::vector<float> out;
  EXPECT_FALSE(DecodeFloats(record, 3, &out));
  EXPECT_FALSE(DecodeFloats(record, 1, &out));
  for (size_t i = 0; i < kFloatRecordHeader; ++i) {
    std::string bad = record;
    bad[i] = static_cast<char>(bad[i] ^ 0x40);
    EXPECT_FALSE(DecodeFloats(bad, values.size(), &out)) << "header byte " << i;
  }
  std::string version2 = record;
  version2[3] = 2;
  EXPECT_FALSE(DecodeFloats(version2, values.size(), &out));
  // A dimension that claims more than the bytes present.
  std::string huge = record;
  huge[7] = '\x7f';
  EXPECT_FALSE(DecodeFloats(huge, values.size(), &out));
}

TEST(CodecTest, RejectsNonFiniteValues) {
  std::vector<float> out;
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    const std::vector<float> values = {1.0f, bad, 2.0f};
    EXPECT_FALSE(DecodeFloats(EncodeFloats(values), 3, &out));
    EXPECT_TRUE(out.empty());
  }
}

TEST(RedisUrlTest, Forms) {
  auto url = ParseRedisUrl("redis://localhost");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  EXPECT_EQ(url->host, "localhost");
  EXPECT_EQ(url->port, 6379);
  EXPECT_EQ(url->db, 0);
  EXPECT_EQ(url->user, "");
  EXPECT_EQ(url->password, "");

  url = ParseRedisUrl("redis://10.0.0.5:6380/2");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "10.0.0.5");
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->db, 2);

  url = ParseRedisUrl("redis://:s3cret@cache.internal:7000/");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->user, "");
  EXPECT_EQ(url->password, "s3cret");
  EXPECT_EQ(url->host, "cache.internal");
  EXPECT_EQ(url->port, 7000);
  EXPECT_EQ(url->db, 0);

  url = ParseRedisUrl("redis://alice:p%40ss:w@rd@host/15");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->user, "alice");
  EXPECT_EQ(url->password, "p@ss:w@rd");  // up to the last '@'; %40 decoded
  EXPECT_EQ(url->host, "host");
  EXPECT_EQ(url->db, 15);

  url = ParseRedisUrl("redis://[::1]:6390/1");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 6390);
  EXPECT_EQ(url->db, 1);
}

TEST(RedisUrlTest, Errors) {
  for (const char* bad :
       {"", "localhost:6379", "http://host", "redis:/host", "redis://", "redis://:6379",
        "redis://host:", "redis://host:0", "redis://host:65536", "redis://host:63a9",
        "redis://host:-1", "redis://host/x", "redis://host/-1", "redis://host/1/2",
        "redis://host/99999999999", "redis://alice@host", "redis://alice:@host",
        "redis://:pw@", "redis://host?db=1", "redis://:p%4@host", "redis://:p%zz@host",
        "redis://[::1", "redis://[]:6379", "redis://a:b:6379"}) {
    auto url = ParseRedisUrl(bad);
    EXPECT_FALSE(url.ok()) << bad;
    if (!url.ok()) {
      EXPECT_FALSE(url.status().message().empty());
    }
  }
  EXPECT_EQ(ParseRedisUrl("rediss://host").status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace quarry::cache
