// HTTP/1.1 messages and an incremental request parser for the server.
//
// RequestParser decodes one request at a time from the bytes a connection has
// received so far (request line, headers, a Content-Length body). It never
// reads past the end of its input, bounds every size it is given, and reports
// malformed input as an error with the status code to answer and a message
// naming the problem. Chunked request bodies are refused (411).
//
// Thread-safety: plain values; a RequestParser belongs to one connection.
#ifndef QUARRY_SERVER_HTTP_H_
#define QUARRY_SERVER_HTTP_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quarry::server {

struct HttpHeader {
  std::string name;  // lower case
  std::string value;  // without surrounding whitespace
};

struct HttpRequest {
  std::string method;  // case-sensitive token, e.g. "GET"
  std::string target;  // the request-target as sent
  std::string path;    // origin-form path, still percent-encoded; "/" at least
  std::string query;   // after '?', raw
  int version_minor = 1;  // HTTP/1.x
  std::vector<HttpHeader> headers;
  std::string body;
  bool keep_alive = true;  // from the version and the Connection header
  bool expect_continue = false;
  std::string remote;  // "ip:port" of the peer, set by the server

  // The first header called `lower_name` (lower case), or nullptr.
  const std::string* Header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  std::string body;
  bool close = false;   // close the connection after this response
  std::string route;    // route pattern that answered (a metrics label); empty: none
};

// "OK", "Not Found", ...; "Unknown" for codes without a phrase here.
std::string_view ReasonPhrase(int status);

// Appends the serialised response. `head_only` leaves the body out (HEAD)
// but keeps its Content-Length.
void AppendResponse(const HttpResponse& response, bool keep_alive, bool head_only,
                    std::string* out);

struct ParserLimits {
  size_t max_header_bytes = 16 << 10;  // request line + header fields
  size_t max_headers = 100;
  size_t max_body_bytes = 32 << 20;
};

struct ParseError {
  int status = 400;  // 400, 411, 413, 414, 417, 431, 501, 505
  std::string message;
};

class RequestParser {
 public:
  enum class State { kNeedMore, kComplete, kError };

  explicit RequestParser(ParserLimits limits = {}) : limits_(limits) {}

  // Parses the request at the start of `buffer`. Between calls for one request
  // the buffer may only grow at its end. kComplete: request() and consumed()
  // (bytes of this request; what follows belongs to the next one) are valid
  // until Reset(). kError: error() says what to answer; the connection cannot
  // be reused (framing is lost).
  State Parse(std::string_view buffer);

  HttpRequest& request() { return request_; }
  size_t consumed() const { return consumed_; }
  const ParseError& error() const { return error_; }
  // The header is parsed and the body is still arriving.
  bool head_done() const { return head_done_; }

  // Ready for the next request.
  void Reset();

 private:
  State Fail(int status, std::string message);
  bool ParseHead(std::string_view head);

  ParserLimits limits_;
  HttpRequest request_;
  size_t scan_pos_ = 0;   // where to resume looking for the end of the header
  size_t skip_ = 0;       // leading empty lines before the request line
  bool head_done_ = false;
  size_t head_len_ = 0;   // bytes up to and including the blank line
  size_t body_len_ = 0;
  size_t consumed_ = 0;
  ParseError error_;
};

// Decodes %XX escapes (and nothing else: '+' stays). False when an escape is
// malformed.
bool PercentDecode(std::string_view in, std::string* out);

// True when `text` is valid UTF-8 (no overlongs, surrogates or code points
// above U+10FFFF); otherwise `*bad_offset` (if given) is the first bad byte.
bool ValidUtf8(std::string_view text, size_t* bad_offset = nullptr);

// Case-insensitive ASCII comparison.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace quarry::server

#endif  // QUARRY_SERVER_HTTP_H_
