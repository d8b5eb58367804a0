#pragma once

// Starts a child process for the multi-process tests (ertrd nodes of a test network).
//
// Everything is prepared before fork() (the parent has threads: only async-signal-safe calls run
// in the child), and the child closes every inherited descriptor above stderr before exec: a
// listening or connected socket of the parent (the chaos harness's fault proxy, a gRPC channel)
// or a port-reservation lock left open in a node would outlive its owner's close(), so a closed
// link would stay open and a released port would stay locked.

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace ertr::testing {

// Runs `exe` with `args` (argv[1..]), stdout and stderr appended to `log_path`, and the parent's
// environment plus `extra_env` (NAME, value). Returns the child's pid, or -1 (errno set) if the
// log cannot be opened or fork fails. The child is killed (SIGKILL) when the thread that spawned
// it ends, so that no node outlives a harness that crashed: spawn from the main thread, or from
// one that outlives the child.
pid_t SpawnLogged(const std::string& exe, const std::vector<std::string>& args,
                  const std::string& log_path,
                  const std::vector<std::pair<std::string, std::string>>& extra_env = {});

}  // namespace ertr::testing
