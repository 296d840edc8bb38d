#include "server/http.h"

#include <gtest/gtest.h>

#include <random>

namespace quarry::server {
namespace {

struct Parsed {
  RequestParser::State state;
  int status = 0;
  std::string message;
  HttpRequest request;
  size_t consumed = 0;
};

Parsed ParseAll(std::string_view bytes, ParserLimits limits = {}) {
  RequestParser parser(limits);
  Parsed out;
  out.state = parser.Parse(bytes);
  if (out.state == RequestParser::State::kError) {
    out.status = parser.error().status;
    out.message = parser.error().message;
  } else if (out.state == RequestParser::State::kComplete) {
    out.request = parser.request();
    out.consumed = parser.consumed();
  }
  return out;
}

TEST(HttpParserTest, SimpleGet) {
  Parsed p = ParseAll("GET /collections?x=1 HTTP/1.1\r\nHost: a\r\nX-Thing:  v \r\n\r\n");
  ASSERT_EQ(p.state, RequestParser::State::kComplete);
  EXPECT_EQ(p.request.method, "GET");
  EXPECT_EQ(p.request.path, "/collections");
  EXPECT_EQ(p.request.query, "x=1");
  EXPECT_TRUE(p.request.keep_alive);
  ASSERT_NE(p.request.Header("x-thing"), nullptr);
  EXPECT_EQ(*p.request.Header("x-thing"), "v");
  EXPECT_EQ(p.request.body, "");
}

TEST(HttpParserTest, BodyAndPipelinedRest) {
  std::string first = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
  std::string second = "GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
  Parsed p = ParseAll(first + second);
  ASSERT_EQ(p.state, RequestParser::State::kComplete);
  EXPECT_EQ(p.request.body, "hello");
  EXPECT_EQ(p.consumed, first.size());
}

TEST(HttpParserTest, IncrementalByteByByte) {
  std::string request = "PUT /c/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
  RequestParser parser;
  for (size_t len = 1; len < request.size(); ++len) {
    ASSERT_EQ(parser.Parse(std::string_view(request).substr(0, len)),
              RequestParser::State::kNeedMore)
        << len;
  }
  ASSERT_EQ(parser.Parse(request), RequestParser::State::kComplete);
  EXPECT_EQ(parser.request().body, "abc");
}

TEST(HttpParserTest, LfOnlyAndLeadingEmptyLines) {
  Parsed p = ParseAll("\r\n\nGET / HTTP/1.1\nHost: a\n\n");
  ASSERT_EQ(p.state, RequestParser::State::kComplete);
  EXPECT_EQ(p.request.path, "/");
}

TEST(HttpParserTest, Http10KeepAlive) {
  EXPECT_FALSE(ParseAll("GET / HTTP/1.0\r\n\r\n").request.keep_alive);
  EXPECT_TRUE(ParseAll("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").request.keep_alive);
  EXPECT_FALSE(ParseAll("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").request.keep_alive);
}

TEST(HttpParserTest, AbsoluteFormTarget) {
  Parsed p = ParseAll("GET http://example.com/healthz?a HTTP/1.1\r\nHost: example.com\r\n\r\n");
  ASSERT_EQ(p.state, RequestParser::State::kComplete);
  EXPECT_EQ(p.request.path, "/healthz");
  EXPECT_EQ(p.request.query, "a");
}

TEST(HttpParserTest, Errors) {
  struct Case {
    std::string bytes;
    int status;
  };
  std::vector<Case> cases = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n\r\n", 400},  // no Host
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET nope HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 413},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417},
  };
  for (const Case& c : cases) {
    Parsed p = ParseAll(c.bytes);
    EXPECT_EQ(p.state, RequestParser::State::kError) << c.bytes;
    EXPECT_EQ(p.status, c.status) << c.bytes << " -> " << p.message;
    EXPECT_FALSE(p.message.empty());
  }
}

TEST(HttpParserTest, Limits) {
  ParserLimits limits;
  limits.max_header_bytes = 256;
  limits.max_headers = 4;
  limits.max_body_bytes = 10;
  EXPECT_EQ(ParseAll("GET /" + std::string(300, 'a'), limits).status, 414);
  EXPECT_EQ(ParseAll("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(300, 'a'), limits).status, 431);
  EXPECT_EQ(ParseAll("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(300, 'a') + "\r\n\r\n", limits).status,
            431);
  EXPECT_EQ(ParseAll("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n", limits).status,
            431);
  EXPECT_EQ(ParseAll("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", limits).status, 413);
  EXPECT_EQ(ParseAll("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", limits).state,
            RequestParser::State::kComplete);
}

TEST(HttpParserTest, ExpectContinueHeadDone) {
  RequestParser parser;
  std::string head = "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
  EXPECT_EQ(parser.Parse(head), RequestParser::State::kNeedMore);
  EXPECT_TRUE(parser.head_done());
  EXPECT_TRUE(parser.request().expect_continue);
  EXPECT_EQ(parser.Parse(head + "abcd"), RequestParser::State::kComplete);
}

TEST(HttpParserTest, RandomInputNeverCrashes) {
  std::mt19937 rng(42);
  ParserLimits limits;
  limits.max_header_bytes = 512;
  for (int round = 0; round < 20000; ++round) {
    std::string bytes(rng() % 600, '\0');
    static const std::string kAlphabet = "GET /HTTP1.\r\n: aHost-Length0123456789\x80\xff";
    for (char& c : bytes) c = kAlphabet[rng() % kAlphabet.size()];
    RequestParser parser(limits);
    RequestParser::State state = parser.Parse(bytes);
    if (state == RequestParser::State::kComplete) {
      EXPECT_LE(parser.consumed(), bytes.size());
    } else if (state == RequestParser::State::kError) {
      EXPECT_GE(parser.error().status, 400);
      EXPECT_LT(parser.error().status, 600);
    }
  }
}

TEST(HttpTest, ResponseSerialisation) {
  HttpResponse response;
  response.status = 404;
  response.body = "{}";
  response.headers.emplace_back("Allow", "GET");
  std::string out;
  AppendResponse(response, true, false, &out);
  EXPECT_EQ(out.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
  EXPECT_NE(out.find("Content-Length: 2\r\n"), std::string::npos);
  EXPECT_NE(out.find("Connection: keep-alive\r\n"), std::string::npos);
  EXPECT_NE(out.find("Allow: GET\r\n"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 6), "\r\n\r\n{}");
  out.clear();
  AppendResponse(response, false, true, &out);
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
}

TEST(HttpTest, PercentDecodeAndUtf8) {
  std::string out;
  EXPECT_TRUE(PercentDecode("a%2Fb%20c", &out));
  EXPECT_EQ(out, "a/b c");
  EXPECT_FALSE(PercentDecode("a%2", &out));
  EXPECT_FALSE(PercentDecode("a%zz", &out));
  EXPECT_FALSE(PercentDecode("%", &out));
  size_t bad = 0;
  EXPECT_TRUE(ValidUtf8("héllo ✓"));
  EXPECT_FALSE(ValidUtf8("ab\xff", &bad));
  EXPECT_EQ(bad, 2u);
  EXPECT_FALSE(ValidUtf8("\xc0\x80"));       // overlong
  EXPECT_FALSE(ValidUtf8("\xed\xa0\x80"));   // surrogate
  EXPECT_FALSE(ValidUtf8("\xe2\x82"));       // truncated
}

}  // namespace
}  // namespace quarry::server
