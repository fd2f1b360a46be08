// SPDX-License-Identifier: MIT
// Reads a profile's bytes into a document tree and hands it to the validator
// (profile_validate.cc); the only file that sees yaml-cpp, so its exceptions end here.
#include "profile.h"

#include "profile_tree.h"
#include "util/read_all.h"
#include "util/text.h"
#include "util/unique_fd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <sstream>
#include <utility>

#include <yaml-cpp/anchor.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace kvmprov {

namespace {

constexpr std::size_t kMaxProfileBytes = 1024 * 1024;
// The schema is four levels deep; anything far deeper is an attack or an accident.
constexpr std::size_t kMaxDepth = 64;

// A message from yaml-cpp with its control bytes escaped: some quote the offending input
// character raw ("unknown escape character: " and a carriage return), which would break the
// one-line error or reach the terminal as a control sequence.
std::string one_line(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

// Finds the first byte that is not UTF-8 text fit for a profile: invalid sequences, and control
// bytes other than tab, LF and the CR of a CRLF (yaml-cpp uses 0x04 internally as end of input,
// and NUL would cut C strings short). A CR on its own is text to yaml-cpp 0.7 (Debian 12) and a
// line break to 0.8 (Debian 13), so "name: kvm<CR>" would be refused on one and accepted as
// "kvm" on the other: it is refused on both. Returns the offset and a description, or nullopt.
std::optional<std::pair<std::size_t, std::string>> find_bad_byte(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    auto hex = [c] {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%02x", c);
      return std::string(buf);
    };
    if (c < 0x80) {
      if (c == '\r' && (i + 1 == text.size() || text[i + 1] != '\n')) {
        return std::pair{
            i,
            std::string(
                "carriage return without a line feed: lines end with LF or CRLF (write a carriage return in a value as \"\\r\")")};
      }
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
        return std::pair{i, "control byte " + hex() + " in profile: profiles must be text"};
      }
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07u;
    }
    bool ok = len != 0 && i + len <= text.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      auto cc = static_cast<unsigned char>(text[i + k]);
      ok = (cc & 0xc0u) == 0x80u;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (ok && ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
               (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))) {
      ok = false;
    }
    if (!ok) {
      return std::pair{i, "invalid UTF-8 byte " + hex() + ": profiles must be UTF-8 text"};
    }
    i += len;
  }
  return std::nullopt;
}

Pos to_pos(const YAML::Mark& mark) {
  if (mark.is_null()) return Pos{};
  return Pos{mark.line + 1, mark.column + 1};
}

// Builds a YamlNode tree from one document, refusing the YAML features the schema never needs.
class TreeBuilder : public YAML::EventHandler {
 public:
  std::optional<YamlNode> root_;
  std::optional<Pos> document_start_;
  std::vector<std::pair<Pos, std::string>> errors_;

  void OnDocumentStart(const YAML::Mark& mark) override { document_start_ = to_pos(mark); }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (anchor != YAML::NullAnchor) refuse_anchor(mark);
    YamlNode n;
    n.pos = to_pos(mark);
    // yaml-cpp marks an empty map value where the next token starts, often the following line;
    // the key is where the operator has to look.
    if (!stack_.empty() && stack_.back().kind == YamlNode::Kind::map &&
        stack_.back().items.size() % 2 == 1) {
      n.pos = stack_.back().items.back().pos;
    }
    add(std::move(n));
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    refuse_anchor(mark);
    YamlNode n;
    n.pos = to_pos(mark);
    add(std::move(n));
  }

  void OnAnchor(const YAML::Mark& mark, const std::string&) override { refuse_anchor(mark); }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    if (anchor != YAML::NullAnchor) refuse_anchor(mark);
    check_tag(mark, tag);
    YamlNode n;
    n.kind = YamlNode::Kind::scalar;
    n.pos = to_pos(mark);
    n.plain = tag == "?";
    n.value = value;
    add(std::move(n));
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    if (anchor != YAML::NullAnchor) refuse_anchor(mark);
    start(mark, tag, YamlNode::Kind::sequence);
  }
  void OnSequenceEnd() override { end(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    if (anchor != YAML::NullAnchor) refuse_anchor(mark);
    start(mark, tag, YamlNode::Kind::map);
  }
  void OnMapEnd() override { end(); }

 private:
  void refuse_anchor(const YAML::Mark& mark) {
    if (anchor_reported_) return;
    anchor_reported_ = true;
    errors_.emplace_back(to_pos(mark), "anchors and aliases are not supported");
  }

  void check_tag(const YAML::Mark& mark, const std::string& tag) {
    // yaml-cpp reports "?" for untagged plain nodes and "!" for untagged quoted ones.
    if (tag == "?" || tag == "!" || tag_reported_) return;
    tag_reported_ = true;
    errors_.emplace_back(to_pos(mark), "tags such as " + quote(tag) + " are not supported");
  }

  void start(const YAML::Mark& mark, const std::string& tag, YamlNode::Kind kind) {
    if (skip_ > 0 || stack_.size() >= kMaxDepth) {
      if (!depth_reported_) {
        depth_reported_ = true;
        errors_.emplace_back(to_pos(mark), "nesting deeper than " + std::to_string(kMaxDepth) +
                                               " levels is not supported");
      }
      ++skip_;
      return;
    }
    check_tag(mark, tag);
    YamlNode n;
    n.kind = kind;
    n.pos = to_pos(mark);
    stack_.push_back(std::move(n));
  }

  void end() {
    if (skip_ > 0) {
      --skip_;
      return;
    }
    YamlNode n = std::move(stack_.back());
    stack_.pop_back();
    add(std::move(n));
  }

  void add(YamlNode n) {
    if (skip_ > 0) return;
    if (stack_.empty()) {
      root_ = std::move(n);
    } else {
      stack_.back().items.push_back(std::move(n));
    }
  }

  std::vector<YamlNode> stack_;
  std::size_t skip_ = 0;  // containers entered below the depth limit, not recorded
  bool anchor_reported_ = false;
  bool depth_reported_ = false;
  bool tag_reported_ = false;
};

// Where byte OFFSET of TEXT stands, counted as yaml-cpp counts: lines and columns from 1, columns
// in characters.
Pos position_of(std::string_view text, std::size_t offset) {
  std::string_view before = text.substr(0, offset);
  std::size_t line_start = before.rfind('\n');
  line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
  // Columns count characters, as yaml-cpp's do, so skip UTF-8 continuation bytes.
  auto column =
      std::count_if(before.begin() + static_cast<std::ptrdiff_t>(line_start), before.end(),
                    [](char c) { return (static_cast<unsigned char>(c) & 0xc0u) != 0x80u; });
  auto line = std::count(before.begin(), before.end(), '\n');
  return Pos{static_cast<int>(line + 1), static_cast<int>(column + 1)};
}

// Reads the one document of TEXT into BUILDER. An error that leaves no tree to check (an empty
// document, a syntax error) comes back; the features the builder refused stay in its errors_.
std::optional<std::pair<Pos, std::string>> read_tree(std::string_view text, TreeBuilder& builder) {
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    if (!parser.HandleNextDocument(builder) || !builder.root_ ||
        (builder.root_->kind == YamlNode::Kind::null && builder.errors_.empty())) {
      return std::pair{Pos{1, 1}, "profile is empty: expected a map with \"version\" and \"name\""};
    }
    TreeBuilder rest;
    if (parser.HandleNextDocument(rest)) {
      builder.errors_.emplace_back(rest.document_start_.value_or(Pos{}),
                                   "more than one YAML document: a profile is a single document");
    }
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own limit is far past ours, so the builder has already said where it was
    // crossed; yaml-cpp's message for this case ("bad file") would only mislead.
    if (builder.errors_.empty()) {
      builder.errors_.emplace_back(to_pos(e.mark), "nesting is too deep");
    }
  } catch (const YAML::Exception& e) {
    return std::pair{to_pos(e.mark), "syntax error: " + one_line(e.msg)};
  } catch (const std::bad_alloc&) {
    // Out of memory says nothing about the profile: main reports it as an internal error.
    throw;
  } catch (const std::exception& e) {
    return std::pair{Pos{}, "cannot parse profile: " + one_line(e.what())};
  }
  return std::nullopt;
}

// A profile that could not be read: one error naming the file.
ParseResult file_error(const std::string& path, std::string message) {
  ParseResult r;
  r.errors.push_back(ProfileError{path, 0, 0, std::move(message)});
  return r;
}

}  // namespace

std::string ProfileError::str() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

ParseResult parse_profile(std::string_view text, const std::string& source) {
  ParseResult result;
  auto add = [&](Pos pos, std::string message) {
    result.errors.push_back(ProfileError{source, pos.line, pos.column, std::move(message)});
  };
  if (auto bad = find_bad_byte(text)) {
    add(position_of(text, bad->first), std::move(bad->second));
    return result;
  }
  TreeBuilder builder;
  if (auto fatal = read_tree(text, builder)) {
    add(fatal->first, std::move(fatal->second));
    return result;
  }
  // Refused features leave holes in the tree; checking the schema as well would only add noise.
  if (!builder.errors_.empty()) {
    for (auto& [pos, message] : builder.errors_) add(pos, std::move(message));
    return result;
  }
  Profile profile = validate_profile(*builder.root_, source, result.errors);
  // The validator visits keys in schema order; operators read files top to bottom.
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [](const ProfileError& x, const ProfileError& y) {
                     return std::pair{x.line, x.column} < std::pair{y.line, y.column};
                   });
  if (result.errors.empty()) result.profile = std::move(profile);
  return result;
}

namespace {

// Reads at most kMaxProfileBytes from FD into TEXT; an error message, or empty on success.
// SIZE is what fstat gave for a regular file (0 otherwise): a hint, not a bound, since the file can
// change. The buffer grows with what comes rather than being made for the limit at once: zeroing
// 1 MiB costs more than parsing a small profile.
std::string read_profile_bytes(int fd, std::size_t size, std::string& text) {
  auto read = read_all(fd, kMaxProfileBytes, size);
  if (!read && read.error().code == EFBIG) return "profile is larger than 1 MiB";
  if (!read) return std::string("cannot read profile: ") + std::strerror(read.error().code);
  text = std::move(*read);
  return {};
}

}  // namespace

ParseResult load_profile_file(const std::string& path) {
  std::string text;
  if (path == "-") {
    // Standard input: a pipe or a file, read once. One name for it, so that the headers of
    // generated files are the same on every run that passes the same profile this way.
    const std::string source = "<stdin>";
    if (std::string e = read_profile_bytes(STDIN_FILENO, 0, text); !e.empty())
      return file_error(source, e);
    return parse_profile(text, source);
  }
  // O_NONBLOCK so that a FIFO cannot hang us before fstat shows it is not a regular file.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0)
    return file_error(path, std::string("cannot read profile: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return file_error(path, std::string("cannot read profile: ") + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    return file_error(path, std::string("cannot read profile: ") + std::strerror(EISDIR));
  }
  if (!S_ISREG(st.st_mode)) return file_error(path, "cannot read profile: not a regular file");
  if (static_cast<std::size_t>(st.st_size) > kMaxProfileBytes)
    return file_error(path, "profile is larger than 1 MiB");
  if (std::string e = read_profile_bytes(fd.get(), static_cast<std::size_t>(st.st_size), text);
      !e.empty())
    return file_error(path, e);
  ParseResult parsed = parse_profile(text, path);
  // Errors name the file as the operator spelt it; the profile itself carries one spelling, so
  // that profile.yaml, ./profile.yaml and a link to it give the same generated files.
  if (parsed.profile) {
    if (char* real = ::realpath(path.c_str(), nullptr)) {
      parsed.profile->source = real;
      std::free(real);
    }
  }
  return parsed;
}

}  // namespace kvmprov
