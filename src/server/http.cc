#include "server/http.h"

#include <cstring>
#include <ctime>

#include "text/utf8.h"

namespace quarry::server {
namespace {

// RFC 9110 token characters.
bool IsTchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string_view TrimOws(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

// Calls `fn` with each comma-separated, trimmed, non-empty element of `list`.
template <typename Fn>
void ForEachListItem(std::string_view list, Fn fn) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view item = TrimOws(list.substr(start, comma - start));
    if (!item.empty()) fn(item);
    start = comma + 1;
  }
}

std::string Printable(std::string_view s, size_t max = 64) {
  std::string out;
  for (char c : s.substr(0, max)) {
    unsigned char u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7F) ? c : '?';
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace

const std::string* HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& header : headers) {
    if (header.name == lower_name) return &header.value;
  }
  return nullptr;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
  }
}

void AppendResponse(const HttpResponse& response, bool keep_alive, bool head_only,
                    std::string* out) {
  char date[64];
  std::time_t now = std::time(nullptr);
  std::tm tm_utc;
  ::gmtime_r(&now, &tm_utc);
  size_t date_len = std::strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm_utc);

  out->append("HTTP/1.1 ");
  out->append(std::to_string(response.status));
  out->push_back(' ');
  out->append(ReasonPhrase(response.status));
  out->append("\r\nDate: ");
  out->append(date, date_len);
  out->append("\r\nServer: quarry\r\n");
  if (!response.content_type.empty()) {
    out->append("Content-Type: ");
    out->append(response.content_type);
    out->append("\r\n");
  }
  out->append("Content-Length: ");
  out->append(std::to_string(response.body.size()));
  out->append(keep_alive ? "\r\nConnection: keep-alive\r\n" : "\r\nConnection: close\r\n");
  for (const auto& [name, value] : response.headers) {
    out->append(name);
    out->append(": ");
    out->append(value);
    out->append("\r\n");
  }
  out->append("\r\n");
  if (!head_only) out->append(response.body);
}

RequestParser::State RequestParser::Fail(int status, std::string message) {
  error_.status = status;
  error_.message = std::move(message);
  return State::kError;
}

void RequestParser::Reset() {
  request_ = HttpRequest{};
  scan_pos_ = 0;
  skip_ = 0;
  head_done_ = false;
  head_len_ = 0;
  body_len_ = 0;
  consumed_ = 0;
  error_ = ParseError{};
}

RequestParser::State RequestParser::Parse(std::string_view buffer) {
  if (!head_done_) {
    // Empty lines before the request line are ignored (RFC 9112 2.2).
    size_t pos = skip_;
    while (pos < buffer.size() && (buffer[pos] == '\r' || buffer[pos] == '\n')) ++pos;
    skip_ = pos;
    if (skip_ > limits_.max_header_bytes) {
      return Fail(400, "too many empty lines before the request line");
    }
    size_t search = std::max(scan_pos_, skip_);
    size_t end = std::string_view::npos;
    while (search < buffer.size()) {
      const void* hit = std::memchr(buffer.data() + search, '\n', buffer.size() - search);
      if (hit == nullptr) {
        search = buffer.size();
        break;
      }
      size_t lf = static_cast<size_t>(static_cast<const char*>(hit) - buffer.data());
      if (lf + 1 >= buffer.size()) {
        search = lf;  // undecided until more bytes arrive
        break;
      }
      if (buffer[lf + 1] == '\n') {
        end = lf + 2;
        break;
      }
      if (buffer[lf + 1] == '\r') {
        if (lf + 2 >= buffer.size()) {
          search = lf;
          break;
        }
        if (buffer[lf + 2] == '\n') {
          end = lf + 3;
          break;
        }
      }
      search = lf + 1;
    }
    const std::string_view start = buffer.substr(skip_);
    if (end == std::string_view::npos) {
      scan_pos_ = search;
      if (start.size() > limits_.max_header_bytes) {
        // Same rule as below: the request line alone is over the limit.
        if (start.substr(0, limits_.max_header_bytes + 1).find('\n') == std::string_view::npos) {
          return Fail(414, "request line is longer than " +
                               std::to_string(limits_.max_header_bytes) + " bytes");
        }
        return Fail(431, "request header is larger than " +
                             std::to_string(limits_.max_header_bytes) + " bytes");
      }
      return State::kNeedMore;
    }
    std::string_view head = buffer.substr(skip_, end - skip_);
    if (head.size() > limits_.max_header_bytes) {
      if (head.find('\n') > limits_.max_header_bytes) {
        return Fail(414, "request line is longer than " +
                             std::to_string(limits_.max_header_bytes) + " bytes");
      }
      return Fail(431, "request header is larger than " +
                           std::to_string(limits_.max_header_bytes) + " bytes");
    }
    if (!ParseHead(head)) return State::kError;
    head_done_ = true;
    head_len_ = end;
  }
  if (buffer.size() < head_len_ || buffer.size() - head_len_ < body_len_) return State::kNeedMore;
  request_.body.assign(buffer.substr(head_len_, body_len_));
  consumed_ = head_len_ + body_len_;
  return State::kComplete;
}

bool RequestParser::ParseHead(std::string_view head) {
  // Split into lines; each ends with LF, optionally preceded by CR.
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < head.size()) {
    size_t lf = head.find('\n', pos);
    if (lf == std::string_view::npos) lf = head.size();
    std::string_view line = head.substr(pos, lf - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\r') != std::string_view::npos) {
      Fail(400, "bare CR in request header");
      return false;
    }
    lines.push_back(line);
    pos = lf + 1;
  }
  // The last line is the empty one that ends the header.
  if (lines.empty() || !lines.back().empty()) {
    Fail(400, "malformed request header");
    return false;
  }
  lines.pop_back();
  if (lines.empty()) {
    Fail(400, "missing request line");
    return false;
  }

  // Request line: METHOD SP TARGET SP HTTP/1.x
  std::string_view line = lines[0];
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      line.find(' ', sp2 + 1) != std::string_view::npos) {
    Fail(400, "malformed request line '" + Printable(line) + "'");
    return false;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) {
    Fail(400, "malformed request method '" + Printable(method) + "'");
    return false;
  }
  if (target.empty()) {
    Fail(400, "empty request target");
    return false;
  }
  for (char c : target) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F) {
      Fail(400, "invalid character in request target (non-ASCII must be percent-encoded)");
      return false;
    }
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    Fail(400, "malformed HTTP version '" + Printable(version) + "'");
    return false;
  }
  if (version[5] != '1') {
    Fail(505, "HTTP version " + std::string(version.substr(5)) + " is not supported (use HTTP/1.1)");
    return false;
  }
  request_.method.assign(method);
  request_.target.assign(target);
  request_.version_minor = version[7] - '0';

  // Target forms: origin ("/path?q"), absolute ("http://host/path"), asterisk.
  std::string_view path_and_query;
  if (target[0] == '/') {
    path_and_query = target;
  } else if (target == "*") {
    path_and_query = "*";
  } else {
    size_t scheme_end = target.find("://");
    std::string_view scheme = scheme_end == std::string_view::npos ? "" : target.substr(0, scheme_end);
    if (!EqualsIgnoreCase(scheme, "http") && !EqualsIgnoreCase(scheme, "https")) {
      Fail(400, "invalid request target '" + Printable(target) + "'");
      return false;
    }
    size_t slash = target.find('/', scheme_end + 3);
    path_and_query = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    if (slash == std::string_view::npos) {
      size_t question = target.find('?', scheme_end + 3);
      if (question != std::string_view::npos) request_.query.assign(target.substr(question + 1));
    }
  }
  size_t question = path_and_query.find('?');
  request_.path.assign(path_and_query.substr(0, question));
  if (question != std::string_view::npos) request_.query.assign(path_and_query.substr(question + 1));

  // Header fields.
  if (lines.size() - 1 > limits_.max_headers) {
    Fail(431, "more than " + std::to_string(limits_.max_headers) + " header fields");
    return false;
  }
  request_.headers.reserve(lines.size() - 1);
  for (size_t line_idx = 1; line_idx < lines.size(); ++line_idx) {
    std::string_view field = lines[line_idx];
    if (field[0] == ' ' || field[0] == '\t') {
      Fail(400, "obsolete header line folding is not supported");
      return false;
    }
    size_t colon = field.find(':');
    if (colon == std::string_view::npos || !IsToken(field.substr(0, colon))) {
      Fail(400, "malformed header field '" + Printable(field) + "'");
      return false;
    }
    std::string_view value = TrimOws(field.substr(colon + 1));
    for (char c : value) {
      unsigned char u = static_cast<unsigned char>(c);
      if ((u < 0x20 && u != '\t') || u == 0x7F) {
        Fail(400, "invalid character in header '" + Printable(field.substr(0, colon)) + "'");
        return false;
      }
    }
    HttpHeader header;
    header.name.resize(colon);
    for (size_t i = 0; i < colon; ++i) header.name[i] = Lower(field[i]);
    header.value.assign(value);
    request_.headers.push_back(std::move(header));
  }

  // Framing and connection semantics.
  bool has_length = false;
  uint64_t length = 0;
  bool has_transfer_encoding = false;
  std::string transfer_encoding;
  int hosts = 0;
  request_.keep_alive = request_.version_minor >= 1;
  for (const auto& header : request_.headers) {
    if (header.name == "content-length") {
      const std::string& v = header.value;
      if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) {
        Fail(400, "invalid Content-Length '" + Printable(v) + "'");
        return false;
      }
      uint64_t parsed = 0;
      if (v.size() > 15) {
        parsed = UINT64_MAX;  // larger than any limit
      } else {
        for (char c : v) parsed = parsed * 10 + static_cast<uint64_t>(c - '0');
      }
      if (has_length && parsed != length) {
        Fail(400, "conflicting Content-Length headers");
        return false;
      }
      has_length = true;
      length = parsed;
    } else if (header.name == "transfer-encoding") {
      has_transfer_encoding = true;
      transfer_encoding += (transfer_encoding.empty() ? "" : ", ") + header.value;
    } else if (header.name == "host") {
      ++hosts;
    } else if (header.name == "connection") {
      ForEachListItem(header.value, [&](std::string_view item) {
        if (EqualsIgnoreCase(item, "close")) request_.keep_alive = false;
        if (EqualsIgnoreCase(item, "keep-alive") && request_.version_minor == 0) {
          request_.keep_alive = true;
        }
      });
    } else if (header.name == "expect") {
      if (!EqualsIgnoreCase(header.value, "100-continue")) {
        Fail(417, "unsupported Expect '" + Printable(header.value) + "'");
        return false;
      }
      request_.expect_continue = request_.version_minor >= 1;
    }
  }
  if (request_.version_minor >= 1 && hosts != 1) {
    Fail(400, hosts == 0 ? "missing Host header" : "more than one Host header");
    return false;
  }
  if (has_transfer_encoding) {
    if (has_length) {
      Fail(400, "both Transfer-Encoding and Content-Length given");
      return false;
    }
    bool chunked = false;
    ForEachListItem(transfer_encoding, [&](std::string_view item) {
      if (EqualsIgnoreCase(item, "chunked")) chunked = true;
    });
    if (chunked && request_.version_minor >= 1) {
      Fail(411, "chunked request bodies are not supported: send a Content-Length");
    } else {
      Fail(request_.version_minor >= 1 ? 501 : 400,
           "Transfer-Encoding '" + Printable(transfer_encoding) + "' is not supported");
    }
    return false;
  }
  if (length > limits_.max_body_bytes) {
    Fail(413, "request body" + (length == UINT64_MAX ? std::string() : " of " + std::to_string(length) + " bytes") +
                  " exceeds the limit of " + std::to_string(limits_.max_body_bytes) + " bytes");
    return false;
  }
  body_len_ = static_cast<size_t>(length);
  return true;
}

bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex(in[i + 1]);
    int lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

bool ValidUtf8(std::string_view text, size_t* bad_offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  const auto* begin = p;
  while (p < end) {
    if (*p < 0x80) {
      ++p;
      continue;
    }
    char32_t cp;
    size_t n = text::internal::DecodeUtf8(p, end, &cp);
    if (n == 0) {
      if (bad_offset != nullptr) *bad_offset = static_cast<size_t>(p - begin);
      return false;
    }
    p += n;
  }
  return true;
}

}  // namespace quarry::server
