#pragma once

// ERTR_CHECK: for broken internal invariants only (STYLE.md section 5). It logs the failed
// condition to stderr and aborts: a node whose own state is inconsistent must stop rather than
// sign. Never use it for input from peers, clients, files or configuration: return a Status.

#include <cstdio>
#include <cstdlib>

#define ERTR_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "ERTR_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (false)
