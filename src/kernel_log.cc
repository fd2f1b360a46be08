// SPDX-License-Identifier: MIT
// Kernel log reading and scanning: the kernel says "disabled by BIOS" after clearing the vmx
// flag, so its log is the only place that tells firmware-disabled from absent without root. And
// the tail of a service log, read in bounded memory: such logs grow past any whole-file limit.
#include "kernel_log.h"

#include <fcntl.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <optional>

#include "atomic_file.h"
#include "util/text.h"

namespace kvmprov {
namespace {

// syslog(2) actions (<sys/klog.h> only declares klogctl).
constexpr int kSyslogReadAll = 3;
constexpr int kSyslogSizeBuffer = 10;
// A /dev/kmsg record is at most this long (the kernel's CONSOLE_EXT_LOG_MAX is 8192).
constexpr size_t kRecordMax = 8192;
constexpr size_t kMaxLog = size_t{64} << 20;

bool digits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

// "6,339,5140900,-;text" → "text"; npos when LINE is not a kmsg record header.
size_t kmsg_text_start(std::string_view line) {
  size_t semi = line.find(';');
  if (semi == std::string_view::npos) return semi;
  std::string_view head = line.substr(0, semi);
  size_t c1 = head.find(',');
  if (c1 == std::string_view::npos || !digits(head.substr(0, c1))) return std::string_view::npos;
  size_t c2 = head.find(',', c1 + 1);
  if (c2 == std::string_view::npos || !digits(head.substr(c1 + 1, c2 - c1 - 1)))
    return std::string_view::npos;
  return semi + 1;
}

std::string_view strip_prefixes(std::string_view line) {
  if (size_t at = kmsg_text_start(line); at != std::string_view::npos) return line.substr(at);
  if (line.size() > 2 && line[0] == '<') {
    size_t close = line.find('>');
    if (close != std::string_view::npos && digits(line.substr(1, close - 1)))
      line.remove_prefix(close + 1);
  }
  if (!line.empty() && line[0] == '[') {
    size_t close = line.find(']');
    if (close != std::string_view::npos) {
      line.remove_prefix(close + 1);
      if (!line.empty() && line[0] == ' ') line.remove_prefix(1);
    }
  }
  return line;
}

Result<std::string> read_syslog() {
  int size = klogctl(kSyslogSizeBuffer, nullptr, 0);
  if (size < 0) return errno_error("cannot read the kernel log with syslog(2)");
  // Not zero-filled: the buffer is sized for the whole ring, the kernel fills what it holds.
  auto buf = std::make_unique_for_overwrite<char[]>(static_cast<size_t>(size));
  int n = klogctl(kSyslogReadAll, buf.get(), size);
  if (n < 0) return errno_error("cannot read the kernel log with syslog(2)");
  return kernel_log_messages(std::string_view(buf.get(), static_cast<size_t>(n)));
}

// Reads the log at KMSG: a character device (/dev/kmsg) record by record without blocking, a
// regular file (a snapshot in a test tree) whole.
Result<std::string> read_kmsg(const std::string& kmsg) {
  const std::string context = "cannot read the kernel log \"" + kmsg + "\"";
  UniqueFd fd(open(kmsg.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return errno_error(context);
  struct stat st {};
  const bool is_device = fstat(fd.get(), &st) == 0 && S_ISCHR(st.st_mode);
  std::string raw;
  std::string record(kRecordMax, '\0');
  for (;;) {
    ssize_t n = read(fd.get(), record.data(), record.size());
    if (n > 0) {
      raw.append(record.data(), static_cast<size_t>(n));
      if (is_device && raw.back() != '\n') raw += '\n';
      if (raw.size() > kMaxLog) break;
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    // EPIPE: records were overwritten while reading; the next read goes on with the oldest left.
    if (errno == EPIPE) continue;
    if (errno != EAGAIN) return errno_error(context);
    break;
  }
  return kernel_log_messages(raw);
}

// Drops what lies before the last MAX_BYTES of BUF, noting that in TRUNCATED.
void keep_last(std::string& buf, size_t max_bytes, bool& truncated) {
  if (buf.size() <= max_bytes) return;
  buf.erase(0, buf.size() - max_bytes);
  truncated = true;
}

}  // namespace

LogTail log_tail(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return {std::string(text), false};
  const size_t cut = text.size() - max_bytes;
  std::string_view kept = text.substr(cut);
  // Unless the cut fell just after a newline, the first line kept is the end of a line; one
  // line longer than the whole bound is kept as it is.
  if (text[cut - 1] != '\n') {
    if (const size_t newline = kept.find('\n'); newline != std::string_view::npos)
      kept.remove_prefix(newline + 1);
  }
  return {std::string(kept), true};
}

Result<std::optional<LogTail>> read_log_tail(const std::string& path, size_t max_bytes) {
  const std::string context = "cannot read \"" + path + "\"";
  // O_NONBLOCK: opening a FIFO without a writer must not hang; reads block again below.
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<LogTail>();
    return errno_error(context);
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return errno_error(context);
  if (S_ISDIR(st.st_mode)) return errno_error(context, EISDIR);
  const int flags = fcntl(fd.get(), F_GETFL);
  if (flags < 0 || fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) return errno_error(context);
  // One byte more than the bound: it tells log_tail whether the kept bytes start a line.
  const size_t keep = max_bytes + 1;
  bool truncated = false;
  // A regular file is read from just before its end, whatever its size.
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > keep) {
    if (lseek(fd.get(), st.st_size - static_cast<off_t>(keep), SEEK_SET) < 0)
      return errno_error(context);
    truncated = true;
  }
  std::string buf;
  std::string chunk(size_t{1} << 16, '\0');
  for (;;) {
    const ssize_t n = read(fd.get(), chunk.data(), chunk.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(context);
    }
    if (n == 0) break;
    buf.append(chunk.data(), static_cast<size_t>(n));
    // A stream, or a file growing while it is read: trimmed in large steps, so each byte is
    // moved a bounded number of times.
    if (buf.size() > 2 * keep) keep_last(buf, keep, truncated);
  }
  keep_last(buf, keep, truncated);
  LogTail tail = log_tail(buf, max_bytes);
  tail.truncated = tail.truncated || truncated;
  return std::optional<LogTail>(std::move(tail));
}

std::string kernel_log_messages(std::string_view raw) {
  std::string out;
  for (std::string_view line : lines(raw)) {
    // Continuation lines of a kmsg record carry its dictionary (" SUBSYSTEM=..."), not text.
    if (line.empty() || line[0] == ' ') continue;
    std::string_view text = strip_prefixes(line);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.remove_suffix(1);
    if (text.empty()) continue;
    out.append(text);
    out += '\n';
  }
  return out;
}

ArchKvmLog scan_arch_kvm_log(std::string_view messages) {
  ArchKvmLog out;
  for (const std::string_view line : lines(messages)) {
    if (line.find("started at EL") != std::string_view::npos) {
      out.started = std::string(line);
      out.no_el2 = out.no_el2 || line.ends_with("started at EL1");
      continue;
    }
    // arch/arm64/kvm/arm.c says which mode KVM took EL2 in: "VHE mode", "Hyp mode" (nVHE) or
    // "Protected nVHE mode" (kvm-arm.mode=protected).
    if (line.find("mode initialized successfully") != std::string_view::npos) {
      out.kvm = std::string(line);
      out.mode = line.find("Protected nVHE") != std::string_view::npos ? "protected nVHE"
                 : line.find("nVHE") != std::string_view::npos         ? "nVHE"
                 : line.find(" VHE mode") != std::string_view::npos    ? "VHE"
                                                                       : "nVHE";
    } else if (line.find("HYP mode not available") != std::string_view::npos) {
      out.kvm = std::string(line);
      out.no_el2 = true;
    } else if (line.find("SIE is not available") != std::string_view::npos) {
      if (out.kvm.empty()) out.kvm = std::string(line);
      out.no_sie = true;
    }
  }
  return out;
}

std::vector<KernelLogFinding> scan_kernel_log(std::string_view messages) {
  using Kind = KernelLogFinding::Kind;
  // Matched case-insensitively: kernels have said "bios" and "BIOS".
  static const std::pair<const char*, Kind> kPatterns[] = {
      {"disabled by bios", Kind::firmware_disabled},
      {"svm disabled (by bios)", Kind::firmware_disabled},
      {"no hardware support", Kind::no_hardware_support},
      {"svm not available", Kind::no_hardware_support},
      {"vmx not supported by cpu", Kind::no_hardware_support},
      {"not amd or hygon", Kind::wrong_vendor},
      {"already loaded vendor module", Kind::vendor_already_loaded},
  };
  // Each pattern is searched for in the whole log at once (lines with a verdict are rare);
  // a line takes the first pattern of the list it contains.
  const std::string text = ascii_lower(messages);
  std::map<size_t, std::pair<size_t, Kind>> by_line;  // line start -> (pattern index, kind)
  for (size_t i = 0; i < std::size(kPatterns); ++i) {
    const std::string_view pattern = kPatterns[i].first;
    // memmem's two-way search; a plain find stops at every occurrence of the first letter.
    const auto next = [&](size_t from) -> size_t {
      const void* hit =
          memmem(text.data() + from, text.size() - from, pattern.data(), pattern.size());
      return hit ? static_cast<size_t>(static_cast<const char*>(hit) - text.data())
                 : std::string::npos;
    };
    for (size_t at = next(0); at != std::string::npos; at = next(at + 1)) {
      const std::string_view line = line_around(text, at);
      by_line.try_emplace(static_cast<size_t>(line.data() - text.data()), i, kPatterns[i].second);
    }
  }
  std::vector<KernelLogFinding> found;
  for (const auto& [start, hit] : by_line) {
    found.push_back({hit.second, std::string(line_around(messages, start))});
  }
  return found;
}

Result<std::string> read_kernel_log(const std::string& kmsg, bool syslog_first) {
  // On the running system syslog(2) hands over the whole buffer in one call; /dev/kmsg takes a
  // read per record (hundreds on a booted host).
  std::optional<Error> syslog_error;
  if (syslog_first) {
    auto sys = read_syslog();
    if (sys) return sys;
    syslog_error = sys.error();
  }
  auto log = read_kmsg(kmsg);
  if (log || !syslog_error) return log;
  const int err = log.error().code;
  if (syslog_error->code == err)
    return Error{err,
                 "cannot read the kernel log (\"" + kmsg + "\", syslog(2)): " + std::strerror(err)};
  return Error{err, log.error().message + "; " + syslog_error->message};
}

}  // namespace kvmprov
