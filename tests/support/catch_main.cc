// The one Catch2 main of every test binary: initialises libsodium first.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>

#include "crypto/init.h"

int main(int argc, char** argv) {
  if (auto s = ertr::crypto::Init(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  return Catch::Session().run(argc, argv);
}
