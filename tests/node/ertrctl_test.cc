// ertrctl end to end against a local 4-node network: the real DICOM RT samples of
// ../shared/data/rt-samples round-trip bit-exact with the right kind, receipts verify offline,
// and exit codes mean what docs/api.md says.

#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/node/cluster.h"
#include "tests/support/temp_dir.h"

namespace ertr::testing {
namespace {

namespace fs = std::filesystem;

struct Run {
  int code = -1;
  std::string out;
  std::string err;
};

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

class Ctl {
 public:
  Ctl(Cluster& c, const fs::path& work) : c_(c), work_(work) {}

  Run operator()(int via, const std::string& key, const std::string& pass,
                 const std::vector<std::string>& args) const {
    std::string cmd = std::string(ERTRCTL) +
                      " --node 127.0.0.1:" + std::to_string(c_.api_port(via)) + " --genesis " +
                      Quote(c_.home(0) + "/genesis.bin");
    if (!key.empty()) cmd += " --key " + Quote(key) + " --passphrase-file " + Quote(pass);
    for (const auto& a : args) cmd += " " + Quote(a);
    const auto out = work_ / "stdout", err = work_ / "stderr";
    const int status =
        std::system((cmd + " >" + Quote(out.string()) + " 2>" + Quote(err.string())).c_str());
    return Run{WIFEXITED(status) ? WEXITSTATUS(status) : -1, Slurp(out), Slurp(err)};
  }

 private:
  Cluster& c_;
  fs::path work_;
};

std::string Field(const std::string& text, const std::string& key) {
  std::smatch m;
  if (std::regex_search(text, m, std::regex("(^|\\n)" + key + ": ([^\\n]*)"))) return m[2];
  if (std::regex_search(text, m, std::regex("\"" + key + "\":\"([^\"]*)\""))) return m[1];
  return "";
}

TEST_CASE("ertrctl: DICOM RT samples round-trip bit-exact with the right kind, receipts verify",
          "[integration][slow]") {
  Cluster c(4);
  c.StartAll();
  TempDir work("ertrctl-test");
  Ctl ctl(c, work.path());
  const std::string admin = c.home(0) + "/keys/admin.key";
  const std::string admin_pass = c.home(0) + "/keys/passphrase";
  const std::string pass = (work / "pass").string();
  std::ofstream(pass) << "a passphrase for the test\n";
  const std::string phys = (work / "phys.key").string();

  auto r = ctl(0, "", "",
               {"keys", "gen", "--out", phys, "--kdf", "interactive", "--passphrase-file", pass});
  INFO(r.err);
  REQUIRE(r.code == 0);
  // An institution's encryption key file is not a user's key: refused before anything is sent.
  r = ctl(0, admin, admin_pass,
          {"user", "register", "--user-key-file", c.home(0) + "/keys/institution.key", "--role",
           "physician", "--handle", "dr-wrong"});
  CHECK(r.code == 2);
  CHECK(r.err.find("holds an X25519 encryption key (an institution's), not a user's Ed25519") !=
        std::string::npos);
  // A validator's signing key is registered already, and the refusal says as what.
  r = ctl(0, admin, admin_pass,
          {"user", "register", "--user-key-file", c.home(0) + "/keys/validator.key", "--role",
           "physician", "--handle", "dr-node"});
  CHECK(r.code != 0);
  CHECK(r.err.find("registered already, as a validator node's") != std::string::npos);
  r = ctl(
      0, admin, admin_pass,
      {"user", "register", "--user-key-file", phys, "--role", "physician", "--handle", "dr-ctl"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  CHECK(Field(r.out, "status") == "committed");
  r = ctl(0, admin, admin_pass, {"--json", "patient", "register"});
  REQUIRE(r.code == 0);
  const std::string patient = Field(r.out, "pseudonym");
  REQUIRE(patient.size() == 32);

  r = ctl(0, phys, pass, {"status"});
  REQUIRE(r.code == 0);
  CHECK(Field(r.out, "institution") == "hosp-a");
  CHECK(Field(r.out, "peers_connected") == "3");

  // Kinds as ../shared/data/rt-samples/SOURCES.md documents them.
  const fs::path samples = fs::path(ERTR_SHARED_DATA) / "rt-samples";
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"pydicom/rtplan.dcm", "rt-plan"},
      {"pydicom/rtdose.dcm", "rt-dose"},
      {"pydicom/rtstruct.dcm", "rt-structure-set"},  // no File Meta header
      {"dicompyler-core/rtplan.dcm", "rt-plan"},
      {"dicompyler-core/rtss.dcm", "rt-structure-set"},
      {"dicompyler-core/ct.0.dcm", "ct-image"},
      {"pymchelper/RN.1.2.246.352.71.5.361940808526.37240.20200311150225.dcm", "rt-ion-plan"},
  };
  if (!fs::exists(samples)) {
    WARN("no " << samples << ": the real RT samples are skipped (CI always has them)");
  } else {
    for (const auto& [name, kind] : expected) {
      const auto file = (samples / name).string();
      const auto receipt = (work / "receipt.bin").string();
      INFO(name);
      r = ctl(0, phys, pass,
              {"record", "submit", file, "--patient", patient, "--receipt-out", receipt});
      INFO(r.out << r.err);
      REQUIRE(r.code == 0);
      CHECK(Field(r.out, "kind") == kind);
      const std::string id = Field(r.out, "record_id");
      const auto got = (work / "got").string();
      r = ctl(0, phys, pass, {"record", "get", id, "--out", got, "--force"});  // one file for all
      REQUIRE(r.code == 0);
      CHECK(Slurp(got) == Slurp(file));
      for (const auto& e : fs::directory_iterator(work.path())) {
        CHECK(e.path().filename().string().find(".partial") == std::string::npos);
      }
      CHECK((fs::status(got).permissions() & fs::perms::others_read) == fs::perms::none);
      r = ctl(0, "", "", {"receipt", "verify", receipt});
      CHECK(r.code == 0);
      CHECK(Field(r.out, "receipt") == "valid");
      CHECK(Field(r.out, "record_id") == id);
      std::string bytes = Slurp(receipt);
      bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x20);
      std::ofstream(receipt, std::ios::binary | std::ios::trunc) << bytes;
      r = ctl(0, "", "", {"receipt", "verify", receipt});
      CHECK(r.code == 6);
      CHECK(r.err.find("the receipt does not verify: ") != std::string::npos);
      // An empty file is not a receipt (it was reported as unreadable).
      std::ofstream(receipt, std::ios::binary | std::ios::trunc).flush();
      r = ctl(0, "", "", {"receipt", "verify", receipt});
      CHECK(r.code == 6);
      CHECK(r.err.find("this is not an ertrchain receipt") != std::string::npos);
    }
    // FHIR Shorthand text is not recognised: the kind must be given.
    const auto fsh = (samples / "codex-radiation-therapy" / "EX_RadiotherapyTreatedFraction.fsh");
    r = ctl(0, phys, pass, {"record", "submit", fsh.string(), "--patient", patient});
    CHECK(r.code == 2);
    CHECK(r.err.find("--kind") != std::string::npos);
    r = ctl(0, phys, pass,
            {"record", "submit", fsh.string(), "--patient", patient, "--kind", "document"});
    CHECK(r.code == 0);
    // --kind may not contradict the DICOM SOP class.
    r = ctl(0, phys, pass,
            {"record", "submit", (samples / "pydicom/rtdose.dcm").string(), "--patient", patient,
             "--kind", "rt-plan"});
    CHECK(r.code == 2);
  }

  // A file that claims to be DICOM and is not is refused before anything is stored.
  const auto fake = (work / "not-really.dcm").string();
  std::ofstream(fake) << "this is not DICOM\n";
  r = ctl(0, phys, pass, {"record", "submit", fake, "--patient", patient});
  CHECK(r.code == 1);
  CHECK(r.err.find("claims to be DICOM") != std::string::npos);

  // Exit codes: not authenticated 3, not found 4, usage 2.
  const std::string stranger = (work / "stranger.key").string();
  REQUIRE(ctl(0, "", "",
              {"keys", "gen", "--out", stranger, "--kdf", "interactive", "--passphrase-file", pass})
              .code == 0);
  r = ctl(0, stranger, pass, {"status"});
  CHECK(r.code == 3);
  CHECK(r.err.find("registered user") != std::string::npos);
  r = ctl(0, phys, pass, {"record", "get", std::string(32, 'a'), "--out", (work / "x").string()});
  CHECK(r.code == 4);
  r = ctl(0, phys, pass, {"record", "get"});
  CHECK(r.code == 2);
  r = ctl(0, phys, pass, {});  // no command
  CHECK(r.code == 2);
  // Values the chain would only commit as rejected, for good, are refused here.
  r = ctl(0, phys, pass,
          {"break-glass", "--patient", patient, "--reason", "emergency", "--duration", "48h"});
  CHECK(r.code == 2);
  CHECK(r.err.find("--duration must be between 1m and 24h, got '48h'") != std::string::npos);
  // A --node without a port and a --genesis that is not there are usage errors, named as such.
  r = ctl(0, phys, pass, {"--node", "127.0.0.1", "status"});
  CHECK(r.code == 2);
  CHECK(r.err.find("--node") != std::string::npos);
  const std::string nowhere = std::string(ERTRCTL) + " --genesis " +
                              Quote((work / "nowhere.bin").string()) + " --key " + Quote(phys) +
                              " --passphrase-file " + Quote(pass) + " status 2>" +
                              Quote((work / "stderr").string());
  const int status = std::system(nowhere.c_str());
  CHECK((WIFEXITED(status) ? WEXITSTATUS(status) : -1) == 4);
  CHECK(Slurp(work / "stderr").find("cannot read the genesis file") != std::string::npos);

  // A download never leaves the record's plaintext behind: not when --out is a directory, not
  // when ertrctl is interrupted while the node is slow to answer.
  const auto doc = (work / "note.txt").string();
  std::ofstream(doc) << "a clearly synthetic note\n";
  r = ctl(0, phys, pass, {"record", "submit", doc, "--patient", patient, "--kind", "document"});
  REQUIRE(r.code == 0);
  const std::string note_id = Field(r.out, "record_id");
  auto partials = [&] {
    int n = 0;
    for (const auto& e : fs::directory_iterator(work.path())) {
      n += e.path().filename().string().find(".partial") != std::string::npos;
    }
    return n;
  };
  r = ctl(0, phys, pass, {"record", "get", note_id, "--out", work.path().string()});
  CHECK(r.code == 2);
  CHECK(r.err.find("is a directory") != std::string::npos);
  CHECK(partials() == 0);
  ::kill(c.pid(0), SIGSTOP);
  const std::string script =
      std::string(ERTRCTL) + " --node 127.0.0.1:" + std::to_string(c.api_port(0)) + " --genesis " +
      Quote(c.home(0) + "/genesis.bin") + " --key " + Quote(phys) + " --passphrase-file " +
      Quote(pass) + " record get " + note_id + " --out " + Quote((work / "slow.txt").string()) +
      " & pid=$!; for i in $(seq 300); do ls " + Quote(work.path().string()) +
      " | grep -q partial && break; sleep 0.1; done; kill $pid; " + "wait $pid; echo $? > " +
      Quote((work / "status").string());
  const int ran = std::system(("bash -c " + Quote(script)).c_str());
  ::kill(c.pid(0), SIGCONT);
  CHECK(ran == 0);
  CHECK(Slurp(work / "status") == "143\n");  // ended by SIGTERM
  CHECK(partials() == 0);
  CHECK_FALSE(fs::exists(work / "slow.txt"));
  r = ctl(0, phys, pass, {"record", "get", note_id, "--out", (work / "slow.txt").string()});
  CHECK(r.code == 0);
  CHECK(Slurp(work / "slow.txt") == "a clearly synthetic note\n");
  // A file that exists (a record downloaded before) is replaced only when asked.
  std::ofstream(work / "slow.txt") << "downloaded before";
  r = ctl(0, phys, pass, {"record", "get", note_id, "--out", (work / "slow.txt").string()});
  CHECK(r.code == 2);
  CHECK(r.err.find("exists; pass --force to replace it") != std::string::npos);
  CHECK(Slurp(work / "slow.txt") == "downloaded before");
  r = ctl(0, phys, pass,
          {"record", "get", note_id, "--out", (work / "slow.txt").string(), "--force"});
  CHECK(r.code == 0);
  CHECK(Slurp(work / "slow.txt") == "a clearly synthetic note\n");
  CHECK(partials() == 0);
}

}  // namespace
}  // namespace ertr::testing
