// SPDX-License-Identifier: MIT
// posix_spawn of system tools with captured standard error.
#include "linux/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "atomic_file.h"
#include "util/text.h"

namespace kvmprov {

std::string find_program(const std::vector<std::string>& candidates) {
  for (const auto& c : candidates)
    if (access(c.c_str(), X_OK) == 0) return c;
  return "";
}

Result<void> run_program(const std::vector<std::string>& argv) {
  const std::string name = argv.empty() ? std::string() : argv[0];
  const std::string context = "cannot run \"" + name + "\"";
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return errno_error(context);
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDERR_FILENO);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  char path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char lang_env[] = "LC_ALL=C";
  char* env[] = {path_env, lang_env, nullptr};

  pid_t pid = 0;
  const int err = posix_spawn(&pid, name.c_str(), &actions, nullptr, args.data(), env);
  posix_spawn_file_actions_destroy(&actions);
  write_end.reset();
  if (err != 0) return errno_error(context, err);

  std::string output;
  char buf[4096];
  for (;;) {
    ssize_t n = read(read_end.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (output.size() < 65536) output.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return errno_error(context);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  // The tool's whole message, one line: its second line is often the one that says why
  // (groupadd: "cannot lock /etc/group; try again later.").
  std::vector<std::string> parts;
  for (const std::string_view line : lines(output))
    if (const std::string_view part = trim(line); !part.empty()) parts.emplace_back(part);
  const std::string said = join(parts, "; ");
  std::string how = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                      : "was killed by signal " + std::to_string(WTERMSIG(status));
  return Error{0, "\"" + name + "\" " + how + (said.empty() ? "" : ": " + said)};
}

}  // namespace kvmprov
