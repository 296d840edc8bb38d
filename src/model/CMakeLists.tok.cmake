# Tokenizers (WordPiece, XLM-R SentencePiece); included by CMakeLists.txt.
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)

add_library(quarry_tokenizer STATIC tokenizer.cc wordpiece.cc sentencepiece_tokenizer.cc)
target_link_libraries(quarry_tokenizer PUBLIC
  quarry_common PkgConfig::UTF8PROC nlohmann_json::nlohmann_json PkgConfig::SENTENCEPIECE)

quarry_add_test(quarry_tokenizer_test
  SOURCES tokenizer_test.cc
  LIBS quarry_tokenizer)
