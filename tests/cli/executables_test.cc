// The executables answer --help and --version properly, and ertrctl makes real key files.

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/support/temp_dir.h"

namespace {

struct Run {
  int exit_code;
  std::string output;
};

Run Exec(const std::string& cmd) {
  Run r{-1, ""};
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST_CASE("ertrd and ertrctl answer --version and --help", "[unit]") {
  for (const std::string exe : {ERTRD, ERTRCTL}) {
    auto v = Exec(exe + " --version");
    CHECK(v.exit_code == 0);
    CHECK(v.output.find("0.1.0") != std::string::npos);
    auto h = Exec(exe + " --help");
    CHECK(h.exit_code == 0);
    CHECK(h.output.find("Usage") != std::string::npos);
    auto bad = Exec(exe + " --no-such-flag");
    CHECK(bad.exit_code == 2);
  }
  CHECK(Exec(std::string(ERTRD) + " --version").output.find("rocksdb") != std::string::npos);
}

TEST_CASE("ertrctl keys gen writes an encrypted key file that keys show reads", "[unit]") {
  ertr::testing::TempDir dir;
  std::string file = (dir / "user.key").string();
  auto gen = Exec("ERTR_PASSPHRASE=s3cret " + std::string(ERTRCTL) +
                  " keys gen --kdf interactive --out " + file);
  REQUIRE(gen.exit_code == 0);
  auto pos = gen.output.find("public_key: ");
  REQUIRE(pos != std::string::npos);
  std::string pub = gen.output.substr(pos + 12, 64);
  auto show = Exec(std::string(ERTRCTL) + " keys show " + file);
  CHECK(show.exit_code == 0);
  CHECK(show.output.find(pub) != std::string::npos);
  // Refuses to overwrite, and refuses to run without a passphrase.
  auto again = Exec("ERTR_PASSPHRASE=s3cret " + std::string(ERTRCTL) + " keys gen --out " + file);
  CHECK(again.exit_code == 1);
  CHECK(again.output.find("exists already") != std::string::npos);
  auto nopass = Exec("env -u ERTR_PASSPHRASE " + std::string(ERTRCTL) + " keys gen --out " +
                     (dir / "other.key").string());
  CHECK(nopass.exit_code == 1);
  CHECK(nopass.output.find("ERTR_PASSPHRASE") != std::string::npos);
  // A missing key file is "not found" (exit code 4, docs/api.md section 5).
  auto junk = Exec(std::string(ERTRCTL) + " keys show " + (dir / "missing.key").string());
  CHECK(junk.exit_code == 4);
}

TEST_CASE("ertrctl refuses a duration too large to hold instead of wrapping it", "[unit]") {
  ertr::testing::TempDir dir("ertrctl-duration");
  const std::string key = dir.path().string() + "/u.key";
  const std::string env = "ERTR_PASSPHRASE=duration-test-pass ";
  REQUIRE(Exec(env + ERTRCTL + " keys gen --type ed25519 --out " + key).exit_code == 0);
  // No node listens on port 1: a duration that parses gets as far as connecting (exit 5).
  const std::string grant =
      env + ERTRCTL + " --key " + key +
      " --chain-id x --node 127.0.0.1:1 consent grant --patient "
      "30a44c302fb2d192812974c5c969235c --to-institution hosp-b --expires-in ";
  for (const std::string huge : {"18446744073709551617d", "1099511627776d", "36501d"}) {
    auto r = Exec(grant + huge);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("--expires-in must be at most 100 years (36500d), got '" + huge + "'") !=
          std::string::npos);
  }
  CHECK(Exec(grant + "36500d").exit_code == 5);
  CHECK(Exec(grant + "30x").output.find("a number with a unit") != std::string::npos);
}

TEST_CASE("ertrd selfcheck runs end to end in a scratch directory", "[unit]") {
  ertr::testing::TempDir dir;
  auto r = Exec(std::string(ERTRD) + " selfcheck --dir " + (dir / "scratch").string());
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("selfcheck passed") != std::string::npos);
  auto again = Exec(std::string(ERTRD) + " selfcheck --dir " + (dir / "scratch").string());
  CHECK(again.exit_code == 1);
}

}  // namespace
