// SPDX-License-Identifier: MIT
// The shared text helpers behind every "did you mean" hint.
#include <doctest/doctest.h>

#include "util/text.h"

namespace kvmprov {
namespace {

TEST_CASE("edit distance counts a transposed pair as one edit") {
  CHECK(edit_distance("modules", "modules") == 0);
  CHECK(edit_distance("modles", "modules") == 1);
  CHECK(edit_distance("moduels", "modules") == 1);
  CHECK(edit_distance("", "kvm") == 3);
  CHECK(edit_distance("intel", "amd") == 5);
}

TEST_CASE("closest_word: a typo of a candidate, not another word") {
  const std::vector<std::string_view> verbs = {"check", "plan", "apply", "validate", "reset"};
  CHECK(closest_word("plna", verbs) == "plan");  // a transposition is one edit
  CHECK(closest_word("valdiate", verbs) == "validate");
  CHECK(closest_word("aply", verbs) == "apply");
  CHECK(closest_word("frobnicate", verbs) == std::nullopt);
  CHECK(closest_word("pl", verbs) == std::nullopt);    // two edits: more than a third of "plan"
  CHECK(closest_word("vlidat", verbs) == "validate");  // two edits, within a third of 8
  CHECK(closest_word(std::string(65, 'a'), verbs) == std::nullopt);
}

TEST_CASE("ascii_lower folds A-Z only") {
  CHECK(ascii_lower("Skylake-Client_V1") == "skylake-client_v1");
  CHECK(ascii_lower("\xc3\x89") == "\xc3\x89");
}

TEST_CASE("trim drops whitespace at both ends only") {
  CHECK(trim("  Y\n") == "Y");
  CHECK(trim("\tGenuine Intel \r\n") == "Genuine Intel");
  CHECK(trim(" \n\t").empty());
  CHECK(trim("").empty());
}

TEST_CASE("join puts the separator between non-empty parts") {
  CHECK(join({"a", "b", "c"}, ", ") == "a, b, c");
  CHECK(join({"", "a", "", "b", ""}, "; ") == "a; b");
  CHECK(join({}, ", ").empty());
}

TEST_CASE("valid_utf8 escapes every byte that is not well-formed UTF-8, and nothing else") {
  CHECK(valid_utf8("plain ascii\ttab\nnewline") == "plain ascii\ttab\nnewline");
  CHECK(valid_utf8("f\xc3\xbcr \xe2\x82\xac \xf0\x9f\x98\x80") ==
        "f\xc3\xbcr \xe2\x82\xac \xf0\x9f\x98\x80");
  CHECK(valid_utf8("f\xfcr") == "f\\xfcr");                         // Latin-1
  CHECK(valid_utf8("cut \xc3") == "cut \\xc3");                     // truncated
  CHECK(valid_utf8("\xc0\xaf") == "\\xc0\\xaf");                    // overlong '/'
  CHECK(valid_utf8("\xe0\x80\xaf") == "\\xe0\\x80\\xaf");           // overlong, 3 bytes
  CHECK(valid_utf8("\xed\xa0\x80") == "\\xed\\xa0\\x80");           // a surrogate
  CHECK(valid_utf8("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  CHECK(valid_utf8("\x80\xbf") == "\\x80\\xbf");                    // stray continuations
  CHECK(valid_utf8("\xff\xfe") == "\\xff\\xfe");
  CHECK(valid_utf8(std::string("a\0b", 3)) == std::string("a\0b", 3));  // JSON escapes NUL itself
  CHECK(valid_utf8("\x1b[2J") == "\x1b[2J");
}

TEST_CASE("displayable also escapes control characters, C0, DEL and C1") {
  CHECK(displayable("\x1b]0;title\x07") == "\\x1b]0;title\\x07");
  CHECK(displayable("a\nb\rc\td") == "a\\x0ab\\x0dc\td");
  CHECK(displayable("a\nb", true) == "a\nb");
  CHECK(displayable("\x7f") == "\\x7f");
  CHECK(displayable("\xc2\x9b"
                    "31m") == "\\xc2\\x9b31m");          // C1 CSI
  CHECK(displayable("\xc2\xa0nbsp") == "\xc2\xa0nbsp");  // U+00A0 is printable
  CHECK(displayable("f\xfcr") == valid_utf8("f\xfcr"));  // the same escape as JSON's
}

TEST_CASE("quote escapes what could break a line or reach the terminal, and cuts long values") {
  CHECK(quote("kvm_intel") == "\"kvm_intel\"");
  CHECK(quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(quote("a\nb\tc\rd") == "\"a\\nb\\tc\\rd\"");
  CHECK(quote("\x1b[31m\x7f") == "\"\\x1b[31m\\x7f\"");
  CHECK(quote("caf\xc3\xa9") == "\"caf\\xc3\\xa9\"");
  CHECK(quote(std::string(100, 'a')) == "\"" + std::string(64, 'a') + "\"...");
  CHECK(quote("abcdef", 3) == "\"abc\"...");
  CHECK(quote("abc", 3) == "\"abc\"");
}

TEST_CASE("quote_path escapes like quote and never cuts") {
  const std::string long_path = "/etc/" + std::string(200, 'x');
  CHECK(quote_path(long_path) == "\"" + long_path + "\"");
  CHECK(quote_path("/etc/modules.d/\x1b]0;owned\x07") == "\"/etc/modules.d/\\x1b]0;owned\\x07\"");
}

TEST_CASE("line_around gives the whole line that holds a byte") {
  CHECK(line_around("abc", 1) == "abc");
  CHECK(line_around("ab\ncd\nef", 3) == "cd");
  CHECK(line_around("ab\ncd\nef", 4) == "cd");
  CHECK(line_around("ab\ncd\nef", 0) == "ab");
  CHECK(line_around("ab\ncd\nef", 7) == "ef");
}

TEST_CASE("lines splits on newlines; a final newline adds no empty line") {
  using V = std::vector<std::string_view>;
  CHECK(lines("") == V{});
  CHECK(lines("\n") == V{""});
  CHECK(lines("a") == V{"a"});
  CHECK(lines("a\nb\n") == V{"a", "b"});
  CHECK(lines("a\n\nb") == V{"a", "", "b"});
  CHECK(lines("a\r\nb") == V{"a\r", "b"});
}

}  // namespace
}  // namespace kvmprov
