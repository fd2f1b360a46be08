// SPDX-License-Identifier: MIT
// Kernel log reading and scanning: the kernel says "disabled by BIOS" after clearing the vmx
// flag, so its log is the only place that tells firmware-disabled from absent without root.
#include "kernel_log.h"

#include <fcntl.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace kvmprov {
namespace {

// syslog(2) actions (<sys/klog.h> only declares klogctl).
constexpr int kSyslogReadAll = 3;
constexpr int kSyslogSizeBuffer = 10;
// A /dev/kmsg record is at most this long (the kernel's CONSOLE_EXT_LOG_MAX is 8192).
constexpr size_t kRecordMax = 8192;
constexpr size_t kMaxLog = size_t{64} << 20;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

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

void add_messages(std::string_view chunk, std::string& out) {
  size_t pos = 0;
  while (pos < chunk.size()) {
    size_t end = chunk.find('\n', pos);
    if (end == std::string_view::npos) end = chunk.size();
    std::string_view line = chunk.substr(pos, end - pos);
    pos = end + 1;
    // Continuation lines of a kmsg record carry its dictionary (" SUBSYSTEM=..."), not text.
    if (line.empty() || line[0] == ' ') continue;
    std::string_view text = strip_prefixes(line);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.remove_suffix(1);
    if (text.empty()) continue;
    out.append(text);
    out += '\n';
  }
}

Result<std::string> read_syslog() {
  int size = klogctl(kSyslogSizeBuffer, nullptr, 0);
  if (size < 0) return errno_error("cannot read the kernel log with syslog(2)");
  std::string buf(static_cast<size_t>(size), '\0');
  int n = klogctl(kSyslogReadAll, buf.data(), size);
  if (n < 0) return errno_error("cannot read the kernel log with syslog(2)");
  buf.resize(static_cast<size_t>(n));
  return kernel_log_messages(buf);
}

}  // namespace

std::string kernel_log_messages(std::string_view raw) {
  std::string out;
  add_messages(raw, out);
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
  std::vector<KernelLogFinding> found;
  size_t pos = 0;
  while (pos < messages.size()) {
    size_t end = messages.find('\n', pos);
    if (end == std::string_view::npos) end = messages.size();
    std::string_view line = messages.substr(pos, end - pos);
    pos = end + 1;
    const std::string l = lower(line);
    for (const auto& [pattern, kind] : kPatterns) {
      if (l.find(pattern) != std::string::npos) {
        found.push_back({kind, std::string(line)});
        break;
      }
    }
  }
  return found;
}

Result<std::string> read_kernel_log(const std::string& kmsg, bool fallback_syslog) {
  const std::string context = "cannot read the kernel log \"" + kmsg + "\"";
  // On the running system syslog(2) hands over the whole buffer in one call; /dev/kmsg takes a
  // read per record (hundreds on a booted host).
  if (fallback_syslog) {
    if (auto sys = read_syslog()) return sys;
  }
  int fd = open(kmsg.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    if (fallback_syslog) {
      auto sys = read_syslog();
      if (sys) return sys;
      if (sys.error().code == err)
        return Error{
            err, "cannot read the kernel log (\"" + kmsg + "\", syslog(2)): " + std::strerror(err)};
      return Error{err, context + ": " + std::strerror(err) + "; " + sys.error().message};
    }
    return errno_error(context, err);
  }
  struct stat st {};
  const bool is_device = fstat(fd, &st) == 0 && S_ISCHR(st.st_mode);
  std::string raw;
  std::string record(kRecordMax, '\0');
  int err = 0;
  for (;;) {
    ssize_t n = read(fd, record.data(), record.size());
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
    if (errno != EAGAIN) err = errno;
    break;
  }
  close(fd);
  if (err != 0) {
    if (fallback_syslog) {
      if (auto sys = read_syslog()) return sys;
    }
    return errno_error(context, err);
  }
  return kernel_log_messages(raw);
}

}  // namespace kvmprov
