// Chunker implementation. See chunker.h for the contract.
//
// A section is cut into "words" (maximal runs of non-whitespace bytes); a word
// whose own count exceeds the budget is cut into hard pieces at UTF-8
// boundaries. Each gap between two consecutive pieces has a strength:
// paragraph (a blank line), sentence (the left word ends with . ! or ?,
// optionally followed by closing quotes/brackets, or the gap holds a newline),
// word (plain whitespace) or hard (no whitespace: inside an oversized word).
// A chunk starting at piece i extends over the longest run of pieces whose
// counts sum to at most the budget, then is cut back to the last gap of the
// highest strength in that run. This is exactly greedy packing paragraph by
// paragraph, falling back to sentences, then words, then hard splits when a
// single unit does not fit.
#include "text/chunker.h"

#include <algorithm>
#include <string>
#include <utility>

#include "text/utf8.h"

namespace quarry::text {
namespace {

using internal::DecodeUtf8;
using internal::IsAsciiSpace;

enum class Gap : uint8_t { kHard = 0, kWord = 1, kSentence = 2, kParagraph = 3 };

struct Piece {
  size_t begin;
  size_t end;
  size_t tokens;
  Gap gap_after;  // strength of the gap between this piece and the next one
};

bool IsCjk(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F) ||
         (cp >= 0x3040 && cp <= 0x30FF) ||  // kana: BERT tokenizers split these per char too
         (cp >= 0xAC00 && cp <= 0xD7AF);    // hangul syllables
}

bool EndsSentence(std::string_view word) {
  size_t i = word.size();
  while (i > 0) {
    const char c = word[i - 1];
    if (c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == '*' || c == '_') {
      --i;
      continue;
    }
    return c == '.' || c == '!' || c == '?' || c == ':' || c == ';';
  }
  return false;
}

}  // namespace

// ApproxWordPieceCount: a vocabulary-free estimate of BERT WordPiece tokens.
// BERT's basic tokenizer splits on whitespace, on every punctuation/symbol
// character and around every CJK character; WordPiece then cuts each word into
// subwords from a ~30k vocabulary: frequent words are one piece, longer or
// rarer ones several. We therefore count:
//   * each ASCII punctuation/symbol character, each non-letter non-digit
//     code point, and each CJK ideograph/kana/hangul syllable: 1 token;
//   * a run of letters (ASCII or other alphabets) of n code points:
//     1 + (n - 1) / 6 tokens (1 for n <= 6, 2 for 7..12, ...);
//   * a run of ASCII digits of n digits: 1 + (n - 1) / 3 tokens.
// On English prose this lands within about +-20% of bert-base-uncased
// (slightly over for long technical words). The count is additive over
// whitespace-separated parts and sub-additive over any other split, which the
// chunker relies on to keep every chunk within budget.
size_t ApproxWordPieceCount(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  size_t tokens = 0;
  size_t letters = 0;
  size_t digits = 0;
  auto close_runs = [&]() {
    if (letters > 0) tokens += 1 + (letters - 1) / 6;
    if (digits > 0) tokens += 1 + (digits - 1) / 3;
    letters = 0;
    digits = 0;
  };
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      if (c >= '0' && c <= '9') {
        if (letters > 0) close_runs();
        ++digits;
      } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
        if (digits > 0) close_runs();
        ++letters;
      } else {
        close_runs();
        if (!IsAsciiSpace(static_cast<char>(c))) ++tokens;
      }
      ++p;
      continue;
    }
    char32_t cp;
    size_t len = DecodeUtf8(p, end, &cp);
    if (len == 0) {
      close_runs();
      ++tokens;
      ++p;
      continue;
    }
    if (IsCjk(cp)) {
      close_runs();
      ++tokens;
    } else if ((cp >= 0x2000 && cp <= 0x2BFF) || cp == 0x00A0 || (cp >= 0x3000 && cp <= 0x303F) ||
               (cp >= 0xA0 && cp <= 0xBF) || cp == 0xD7 || cp == 0xF7 || cp >= 0x1F000) {
      // General punctuation, symbols, arrows, math, CJK punctuation, emoji.
      close_runs();
      if (cp != 0x00A0 && cp != 0x3000 && !(cp >= 0x2000 && cp <= 0x200B)) ++tokens;
    } else {
      if (digits > 0) close_runs();
      ++letters;  // accented Latin, Greek, Cyrillic, combining marks, ...
    }
    p += len;
  }
  close_runs();
  return tokens;
}

Chunker::Chunker(ChunkerOptions options) : options_(std::move(options)) {
  if (!options_.token_counter) options_.token_counter = ApproxWordPieceCount;
  if (options_.max_tokens == 0) options_.max_tokens = 1;
  if (options_.overlap_tokens >= options_.max_tokens) {
    options_.overlap_tokens = options_.max_tokens / 2;
  }
}

namespace {

// Cuts [begin, end) of `text` (a word whose count exceeds `budget`) into hard
// pieces of at most `budget` tokens each (at least one code point each).
void HardSplit(std::string_view text, size_t begin, size_t end, size_t budget,
               const TokenCounter& counter, std::vector<Piece>* pieces) {
  size_t pos = begin;
  while (pos < end) {
    const size_t remaining = end - pos;
    const size_t remaining_tokens = counter(text.substr(pos, remaining));
    if (remaining_tokens <= budget) {
      pieces->push_back(Piece{pos, end, remaining_tokens, Gap::kWord});
      return;
    }
    // Guess from the average bytes per token, then shrink until it fits.
    size_t guess = std::max<size_t>(1, remaining * budget / std::max<size_t>(remaining_tokens, 1));
    size_t cut = internal::Utf8FloorBoundary(text, pos + guess);
    size_t first_cp_end = pos + 1;
    while (first_cp_end < end && !internal::IsUtf8Boundary(text, first_cp_end)) ++first_cp_end;
    if (cut <= pos) cut = first_cp_end;
    size_t tokens = counter(text.substr(pos, cut - pos));
    while (tokens > budget && cut > first_cp_end) {
      size_t shrink = std::max<size_t>(1, (cut - pos) / 8);
      size_t next = internal::Utf8FloorBoundary(text, cut - shrink);
      if (next < first_cp_end) next = first_cp_end;
      cut = next;
      tokens = counter(text.substr(pos, cut - pos));
    }
    pieces->push_back(Piece{pos, cut, tokens, Gap::kHard});
    pos = cut;
  }
}

// Appends the pieces of section [begin, end) of `text`.
void CutSection(std::string_view text, size_t begin, size_t end, size_t budget,
                const TokenCounter& counter, std::vector<Piece>* pieces) {
  size_t pos = begin;
  while (pos < end) {
    // Skip whitespace, noting how strong the gap is.
    size_t newlines = 0;
    while (pos < end && IsAsciiSpace(text[pos])) {
      if (text[pos] == '\n') ++newlines;
      ++pos;
    }
    if (pos >= end) break;
    if (!pieces->empty()) {
      Piece& prev = pieces->back();
      if (newlines >= 2) {
        prev.gap_after = Gap::kParagraph;
      } else if (newlines == 1 || EndsSentence(text.substr(prev.begin, prev.end - prev.begin))) {
        prev.gap_after = Gap::kSentence;
      } else {
        prev.gap_after = Gap::kWord;
      }
    }
    size_t word_end = pos;
    while (word_end < end && !IsAsciiSpace(text[word_end])) ++word_end;
    const size_t tokens = counter(text.substr(pos, word_end - pos));
    if (tokens <= budget) {
      pieces->push_back(Piece{pos, word_end, tokens, Gap::kWord});
    } else {
      HardSplit(text, pos, word_end, budget, counter, pieces);
    }
    pos = word_end;
  }
  if (!pieces->empty()) pieces->back().gap_after = Gap::kParagraph;
}

}  // namespace

std::vector<Chunk> Chunker::Split(const Document& doc) const {
  std::vector<Chunk> chunks;
  const std::string_view text = doc.text;
  const size_t budget = options_.max_tokens;
  const size_t overlap = options_.overlap_tokens;

  std::vector<SectionSpan> sections = doc.sections;
  if (sections.empty()) sections.push_back(SectionSpan{"", 0, text.size()});

  std::vector<Piece> pieces;
  std::vector<size_t> prefix;  // prefix[i] = sum of tokens of pieces [0, i)
  size_t min_begin = 0;        // sections are clamped to be non-overlapping
  for (const SectionSpan& section : sections) {
    size_t begin = std::min(std::max(section.begin, min_begin), text.size());
    size_t end = std::min(section.end, text.size());
    if (end <= begin) continue;
    min_begin = end;
    // Never cut inside a code point, even if a caller's offsets do.
    begin = internal::Utf8CeilBoundary(text, begin);
    end = internal::Utf8FloorBoundary(text, end);
    if (end <= begin) continue;

    pieces.clear();
    CutSection(text, begin, end, budget, options_.token_counter, &pieces);
    if (pieces.empty()) continue;
    prefix.assign(pieces.size() + 1, 0);
    for (size_t piece_idx = 0; piece_idx < pieces.size(); ++piece_idx) {
      prefix[piece_idx + 1] = prefix[piece_idx] + pieces[piece_idx].tokens;
    }

    size_t start = 0;     // first piece of the chunk being built
    size_t prev_last = 0;  // last piece of the previous chunk (valid if start > 0)
    bool have_prev = false;
    while (start < pieces.size()) {
      // Longest run [start, limit] that fits (at least one piece).
      size_t limit = start;
      while (limit + 1 < pieces.size() && prefix[limit + 2] - prefix[start] <= budget) ++limit;
      // The chunk must move past the previous one.
      const size_t min_last = have_prev ? std::max(start, prev_last + 1) : start;
      if (limit < min_last) {
        // Overlap plus the next piece does not fit: drop the overlap.
        start = prev_last + 1;
        have_prev = false;
        continue;
      }
      // Cut at the last strongest gap in [min_last, limit].
      size_t last = limit;
      Gap best = pieces[limit].gap_after;
      for (size_t idx = limit; idx-- > min_last;) {
        if (best == Gap::kParagraph) break;
        if (pieces[idx].gap_after > best) {
          best = pieces[idx].gap_after;
          last = idx;
        }
      }
      Chunk chunk;
      chunk.doc_id = doc.doc_id;
      chunk.source = doc.source;
      chunk.title = doc.title;
      chunk.section = section.path;
      chunk.begin = pieces[start].begin;
      chunk.end = pieces[last].end;
      chunk.text.assign(text.substr(chunk.begin, chunk.end - chunk.begin));
      chunk.chunk_index = static_cast<uint32_t>(chunks.size());
      chunk.metadata = doc.metadata;
      chunks.push_back(std::move(chunk));
      if (last + 1 >= pieces.size()) break;

      // Overlap: whole sentences from the end of this chunk if they fit in
      // `overlap`, else whole words.
      size_t next = last + 1;
      if (overlap > 0) {
        size_t sentence_start = next;
        size_t word_start = next;
        for (size_t idx = last + 1; idx-- > start + 1;) {
          if (prefix[last + 1] - prefix[idx] > overlap) break;
          if (pieces[idx - 1].gap_after >= Gap::kWord) word_start = idx;
          if (pieces[idx - 1].gap_after >= Gap::kSentence) sentence_start = idx;
        }
        next = sentence_start <= last ? sentence_start : word_start;
      }
      prev_last = last;
      have_prev = true;
      start = next;
    }
  }

  if (chunks.empty() && !doc.title.empty()) {
    bool only_space = true;
    for (char c : text) {
      if (!IsAsciiSpace(c)) {
        only_space = false;
        break;
      }
    }
    if (only_space) {
      Chunk chunk;
      chunk.doc_id = doc.doc_id;
      chunk.source = doc.source;
      chunk.title = doc.title;
      chunk.section = sections.front().path;
      chunk.text = doc.title;
      chunk.metadata = doc.metadata;
      chunks.push_back(std::move(chunk));
    }
  }
  return chunks;
}

}  // namespace quarry::text
