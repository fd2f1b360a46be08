// SPDX-License-Identifier: MIT
// Small text helpers shared across the program: trimming, joining, ASCII case folding, the edit
// distance behind every "did you mean" hint, and making host bytes safe to print.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvmprov {

// S with A-Z folded to a-z; other bytes as they are (locale-independent).
std::string ascii_lower(std::string_view s);

// S without leading and trailing whitespace (space, tab, CR, LF, VT, FF).
std::string_view trim(std::string_view s);

// PARTS with SEP between them; empty parts are left out.
std::string join(const std::vector<std::string>& parts, std::string_view sep);

// Optimal string alignment distance: insertions, deletions, substitutions and a transposed
// adjacent pair each count as one edit (a transposition is the commonest typo).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to WORD, when close enough to be a typo of it rather than another word:
// at most a third of the candidate's length in edits, 1 or 2. Behind the profile's and the
// command line's "did you mean" hints.
std::optional<std::string_view> closest_word(std::string_view word,
                                             const std::vector<std::string_view>& candidates);

// S as valid UTF-8: every byte that is not part of a well-formed UTF-8 sequence (a Latin-1
// comment, a truncated sequence, an overlong form, a surrogate) becomes the four characters
// \xNN. Everything else, control bytes included, is kept. What JSON needs of a host's bytes.
std::string valid_utf8(std::string_view s);

// S safe to put on a terminal: as valid_utf8, and control characters (C0 but tab and, when
// KEEP_NEWLINES, newline; DEL; C1) become \xNN as well, so a file's or a path's bytes can
// neither split a line nor send an escape sequence. The same escapes as valid_utf8, so text and
// JSON show a byte the same way.
std::string displayable(std::string_view s, bool keep_newlines = false);

// S in double quotes for a one-line message: '"' and '\\' take a backslash; newline, tab and
// carriage return read \n, \t and \r; every other control byte and every byte from 0x7f up
// reads \xNN, so neither a terminal escape nor a stray encoding reaches the screen. Cut after MAX
// bytes with "..." after the closing quote, so that one hostile value cannot flood the terminal.
std::string quote(std::string_view s, std::size_t max = 64);

// A path as quote() shows it, never cut: a path names the file at fault, all of it.
std::string quote_path(std::string_view path);

// The lines of S without their newlines. A last line without a newline counts; a final newline
// does not start another, empty, line. Carriage returns are kept (the caller decides).
std::vector<std::string_view> lines(std::string_view s);

// The line of S that holds byte AT, without its newline (AT < S.size()).
std::string_view line_around(std::string_view s, std::size_t at);

}  // namespace kvmprov
