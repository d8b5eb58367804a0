#include "tests/support/spawn.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

extern char** environ;

namespace ertr::testing {

pid_t SpawnLogged(const std::string& exe, const std::vector<std::string>& args,
                  const std::string& log_path,
                  const std::vector<std::pair<std::string, std::string>>& extra_env) {
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return -1;
  std::vector<std::string> env_strings;
  for (const auto& [name, value] : extra_env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    bool replaced = false;
    for (const auto& [name, value] : extra_env) {
      replaced = replaced ||
                 (std::strncmp(*e, name.c_str(), name.size()) == 0 && (*e)[name.size()] == '=');
    }
    if (!replaced) envp.push_back(*e);
  }
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings{exe};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The node dies with the harness (a crashed ertr-bench left four validators running, which
    // took CPU from every later benchmark on the machine). The signal follows the forking
    // thread, so spawn from a thread that lives as long as the network (all callers do).
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(127);
    ::dup2(log, 1);
    ::dup2(log, 2);
    if (::close_range(3, ~0U, 0) != 0) {
      for (int fd = 3; fd < 4096; ++fd) ::close(fd);  // kernels without close_range
    }
    ::execve(exe.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  const int saved = errno;
  ::close(log);
  errno = saved;
  return pid;
}

}  // namespace ertr::testing
