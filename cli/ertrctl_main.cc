// ertrctl: the ertrchain client for operators, clinicians and integrators (docs/api.md section 5).
//
// Exit codes: 0 success; 1 the operation failed; 2 usage error; 3 not authenticated or not
// allowed; 4 not found; 5 unavailable or full (retry later); 6 verification failed or data corrupt.

#include <signal.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string_view>

#include "cli/api_client.h"
#include "cli/dicom_kind.h"
#include "cli/synthetic_dicom.h"
#include "common/version.h"
#include "crypto/init.h"
#include "crypto/key_file.h"
#include "crypto/passphrase.h"
#include "crypto/secure_buffer.h"
#include "ledger/policy.h"
#include "proto/grpc_status.h"
#include "proto/ledger_codec.h"
#include "proto/receipt.h"

namespace {

using ertr::Result;
using ertr::Status;
using ertr::StatusCode;
namespace v1 = ertr::v1;
namespace ledger = ertr::ledger;
namespace crypto = ertr::crypto;
namespace fs = std::filesystem;

int ExitCode(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return 0;
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
      return 3;
    case StatusCode::kNotFound:
      return 4;
    case StatusCode::kUnavailable:
    case StatusCode::kResourceExhausted:
      return 5;
    case StatusCode::kDataLoss:
      return 6;
    default:
      return 1;
  }
}

int Fail(const Status& s) {
  std::cerr << "ertrctl: " << s.ToString() << "\n";
  return ExitCode(s);
}

// A command line that cannot work (a malformed id, a missing option): exit code 2.
int Usage(const Status& s) {
  std::cerr << "ertrctl: " << s.ToString() << "\n";
  return 2;
}

// A passphrase in guarded memory, seen without a copy (a std::string would leave it unwiped).
std::string_view View(const crypto::SecureBuffer& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

std::string Hex(const std::string& raw) { return ertr::ToHex(ertr::AsBytes(raw)); }

std::string JsonEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::string TimeText(std::uint64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::ostringstream o;
  o << std::put_time(&tm, "%Y-%m-%dT%H:%M:%S") << "." << std::setw(3) << std::setfill('0')
    << ms % 1000 << "Z";
  return o.str();
}

// Key/value output: "key: value" lines, or one JSON object (a list prints an array of objects).
class Output {
 public:
  explicit Output(bool json) : json_(json) {}
  Output& Str(const std::string& k, const std::string& v) { return Add(k, v, true); }
  Output& Num(const std::string& k, std::uint64_t v) { return Add(k, std::to_string(v), false); }
  Output& Bool(const std::string& k, bool v) { return Add(k, v ? "true" : "false", false); }
  // Ends one item of a list.
  void Next() {
    items_.push_back(std::move(fields_));
    fields_.clear();
  }
  void Print(bool list = false) {
    if (!fields_.empty() || !list) Next();
    if (json_) {
      std::cout << (list ? "[" : "");
      for (std::size_t i = 0; i < items_.size(); ++i) {
        std::cout << (i ? "," : "") << "{";
        for (std::size_t j = 0; j < items_[i].size(); ++j) {
          const auto& [k, v, quoted] = items_[i][j];
          std::cout << (j ? "," : "") << "\"" << k
                    << "\":" << (quoted ? "\"" + JsonEscape(v) + "\"" : v);
        }
        std::cout << "}";
      }
      std::cout << (list ? "]" : "") << "\n";
      return;
    }
    for (std::size_t i = 0; i < items_.size(); ++i) {
      if (i) std::cout << "\n";
      for (const auto& [k, v, quoted] : items_[i]) std::cout << k << ": " << v << "\n";
    }
  }

 private:
  Output& Add(const std::string& k, const std::string& v, bool quoted) {
    fields_.emplace_back(k, v, quoted);
    return *this;
  }
  bool json_;
  std::vector<std::tuple<std::string, std::string, bool>> fields_;
  std::vector<std::vector<std::tuple<std::string, std::string, bool>>> items_;
};

// A progress line on a terminal's stderr: bytes, percentage, rate, ETA.
class ProgressBar {
 public:
  ProgressBar(std::string label, bool enabled) : label_(std::move(label)), enabled_(enabled) {}
  ~ProgressBar() {
    if (shown_) std::cerr << "\n";
  }
  void operator()(std::uint64_t done, std::uint64_t total) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (shown_ && now - last_ < std::chrono::milliseconds(200) && done != total) return;
    last_ = now;
    shown_ = true;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
    std::ostringstream o;
    o << "\r" << label_ << " " << std::fixed << std::setprecision(1)
      << static_cast<double>(done) / (1 << 20) << " MiB";
    if (total > 0) {
      o << " / " << static_cast<double>(total) / (1 << 20) << " MiB  " << std::setw(3)
        << (100 * done / total) << "%";
    }
    o << "  " << rate / (1 << 20) << " MiB/s";
    if (total > 0 && rate > 0 && done < total) {
      const auto eta = static_cast<std::uint64_t>(static_cast<double>(total - done) / rate);
      o << "  ETA " << eta / 60 << ":" << std::setw(2) << std::setfill('0') << eta % 60;
    }
    o << "   ";
    std::cerr << o.str() << std::flush;
  }

 private:
  std::string label_;
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

// An output stream onto a file descriptor that reports write, sync and close failures.
class FdSink : public std::streambuf {
 public:
  explicit FdSink(int fd) : fd_(fd) {}
  ~FdSink() override { Close(); }
  bool Sync() { return ok_ && ::fsync(fd_) == 0; }
  bool Close() {
    if (fd_ >= 0 && ::close(fd_) != 0) ok_ = false;
    fd_ = -1;
    return ok_;
  }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::streamsize done = 0;
    while (ok_ && done < n) {
      const ssize_t w = ::write(fd_, s + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        ok_ = false;
        break;
      }
      done += w;
    }
    return done;
  }
  int_type overflow(int_type c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    const char ch = traits_type::to_char_type(c);
    return xsputn(&ch, 1) == 1 ? c : traits_type::eof();
  }

 private:
  int fd_;
  bool ok_ = true;
};

// The temporary file a download writes its plaintext to: removed when the download fails, and
// when ertrctl is interrupted (SIGINT, SIGTERM, SIGHUP) or its output pipe closes (SIGPIPE)
// before the rename, so that a decrypted record is never left behind under a name nobody asked
// for. One download per process.
class PartialFile {
 public:
  explicit PartialFile(const std::string& target) {
    if (target.size() + 16 > sizeof(path_)) {
      errno = ENAMETOOLONG;
      return;
    }
    std::snprintf(path_, sizeof(path_), "%s.partial-XXXXXX", target.c_str());
    fd_ = ::mkstemp(path_);
    if (fd_ < 0) {
      path_[0] = '\0';  // nothing was created: nothing to remove
      return;
    }
    struct sigaction sa {};
    sa.sa_handler = &PartialFile::OnSignal;
    sigemptyset(&sa.sa_mask);
    for (std::size_t i = 0; i < std::size(kSignals); ++i) {
      ::sigaction(kSignals[i], nullptr, &before_[i]);
      // A signal the caller ignores (SIGINT of a background job) stays ignored.
      if (before_[i].sa_handler != SIG_IGN) ::sigaction(kSignals[i], &sa, nullptr);
    }
    handling_ = true;
  }
  ~PartialFile() {
    Restore();
    if (path_[0] != '\0') ::unlink(path_);
  }
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;

  int fd() const { return fd_; }
  std::string path() const { return path_; }
  // Renamed to its target: nothing is left to remove.
  void Kept() {
    Restore();
    path_[0] = '\0';
  }

 private:
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
  static void OnSignal(int sig) {
    if (path_[0] != '\0') ::unlink(path_);  // async-signal-safe
    ::signal(sig, SIG_DFL);
    ::raise(sig);
  }
  void Restore() {
    if (!handling_) return;
    for (std::size_t i = 0; i < std::size(kSignals); ++i) {
      ::sigaction(kSignals[i], &before_[i], nullptr);
    }
    handling_ = false;
  }
  static inline char path_[4096] = {};  // read by the signal handler
  struct sigaction before_[std::size(kSignals)] = {};
  bool handling_ = false;
  int fd_ = -1;  // owned by the caller's sink once made
};

Result<ledger::Role> ParseRole(std::string_view name) {
  for (std::uint8_t r = 1; r <= ledger::kMaxRole; ++r) {
    if (ledger::RoleName(static_cast<ledger::Role>(r)) == name) {
      return static_cast<ledger::Role>(r);
    }
  }
  return Status::InvalidArgument("unknown role '" + std::string(name) +
                                 "'; one of physician, physicist, therapist, integrator, auditor, "
                                 "admin");
}

// "90s", "15m", "2h", "7d" -> milliseconds; at most 100 years (a count too large to hold must not
// wrap around into a small one).
Result<std::uint64_t> ParseDuration(std::string_view text, std::string_view option) {
  constexpr std::uint64_t kMaxMs = 36'500ull * 86'400'000;
  const auto bad = [&](std::string_view what) {
    return Status::InvalidArgument(std::string(option) + " must be " + std::string(what) +
                                   ", got '" + std::string(text) + "'");
  };
  std::uint64_t n = 0;
  std::size_t i = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    n = n * 10 + static_cast<std::uint64_t>(text[i] - '0');
    if (n > kMaxMs) return bad("at most 100 years (36500d)");
  }
  const std::string_view unit = text.substr(i);
  const std::uint64_t scale = unit == "s"   ? 1000
                              : unit == "m" ? 60'000
                              : unit == "h" ? 3'600'000
                              : unit == "d" ? 86'400'000
                                            : 0;
  if (i == 0 || scale == 0) return bad("a number with a unit s, m, h or d (e.g. 30m)");
  if (n > kMaxMs / scale) return bad("at most 100 years (36500d)");
  return n * scale;
}

template <typename T>
Result<T> ParseId(const std::string& hex, std::string_view option) {
  auto v = T::FromHex(hex, option);
  if (!v) {
    return Status::InvalidArgument(std::string(option) + " must be " + std::to_string(T::kSize) +
                                   " bytes in hex (" + std::to_string(2 * T::kSize) +
                                   " characters), got '" + hex + "'");
  }
  return *v;
}

Result<ledger::Genesis> ReadGenesis(const std::string& file) {
  auto tx = ertr::proto::LoadGenesis(file);
  if (!tx) return tx.error().WithContext("--genesis");
  return std::get<ledger::Genesis>(*tx->payload);
}

std::string KindName(int kind) {
  if (kind <= 0 || kind > ledger::kMaxRecordKind) return "unspecified";
  return std::string(ledger::RecordKindName(static_cast<ledger::RecordKind>(kind)));
}

void PrintRecord(Output& out, const v1::RecordInfo& r) {
  out.Str("record_id", Hex(r.record_id()))
      .Str("kind", KindName(r.kind()))
      .Str("patient", Hex(r.patient_pseudonym()))
      .Str("uploader_institution", r.uploader_institution_id())
      .Str("uploader_user", Hex(r.uploader_user()))
      .Num("height", r.height())
      .Str("time", TimeText(r.time_ms()))
      .Num("ciphertext_size", r.ciphertext_size())
      .Str("ciphertext_digest", Hex(r.ciphertext_digest()))
      .Str("tx_id", Hex(r.tx_id()));
  if (!r.access_basis().empty()) out.Str("access", r.access_basis());
  if (r.erased()) out.Bool("erased", true);
}

std::string GranteeText(const v1::Grantee& g) {
  if (g.has_institution_role()) {
    const auto role = g.institution_role().role();
    return "role " +
           std::string(role > 0 && role <= ledger::kMaxRole
                           ? ledger::RoleName(static_cast<ledger::Role>(role))
                           : "unspecified") +
           " at " + g.institution_role().institution_id();
  }
  if (!g.user_key().empty()) return "user " + Hex(g.user_key());
  return "institution " + g.institution_id();
}

std::string ScopeText(const v1::ConsentScope& s) {
  if (s.all_records()) return "all records";
  if (s.has_kinds()) {
    std::string out = "kinds";
    for (int k : s.kinds().kinds()) out += " " + KindName(k);
    return out;
  }
  return "record " + Hex(s.record_id());
}

}  // namespace

int main(int argc, char** argv) {
  // ertrctl reports every failed call itself, once, with what to do; gRPC's own log lines (a
  // failed TLS handshake, in its raw form) would only repeat it. GRPC_VERBOSITY=ERROR in the
  // environment brings them back for debugging.
  ::setenv("GRPC_VERBOSITY", "NONE", /*overwrite=*/0);
  ertr::proto::PrepareGrpcProcess();
  try {
    CLI::App app{"ertrctl - client for an ertrchain network of radiation-oncology departments.",
                 "ertrctl"};
    app.fallthrough();
    bool version = false, json = false;
    app.add_flag("--version", version, "Print the version and exit");
    app.add_flag("--json", json, "Machine-readable JSON output");
    ertr::cli::ClientOptions copt;
    std::string key_file, genesis_file, pass_file, pass_env = "ERTR_PASSPHRASE";
    app.add_option("--node", copt.address, "Your institution's node API, HOST:PORT")
        ->envname("ERTR_NODE")
        ->capture_default_str();
    app.add_option("--key", key_file, "Your Ed25519 user key file (signs every call)")
        ->envname("ERTR_KEY");
    app.add_option("--chain-id", copt.chain_id, "Chain id (or give --genesis)")
        ->envname("ERTR_CHAIN_ID");
    app.add_option("--genesis", genesis_file, "The network's genesis.bin (gives the chain id)")
        ->envname("ERTR_GENESIS");
    app.add_option("--tls-ca", copt.tls_ca_file, "CA certificate (PEM) of a remote node's API");
    app.add_option("--tls-server-name", copt.tls_server_name,
                   "Name in the node's certificate, when --node gives an address");
    app.add_option("--passphrase-file", pass_file, "Read key passphrases from this file");
    app.add_option("--passphrase-env", pass_env, "Environment variable with the passphrase")
        ->capture_default_str();
    std::string sign_as;
    app.add_option("--sign-as", sign_as,
                   "Sign the transaction with this key file instead of --key (a patient's own key "
                   "on consent and erasure; the call is still made as --key)");
    std::string sign_as_pass_file;
    app.add_option("--sign-as-passphrase-file", sign_as_pass_file,
                   "Passphrase file of the --sign-as key (default: the --key passphrase)");
    app.require_subcommand(0, 1);

    // keys
    auto* keys = app.add_subcommand("keys", "Create and inspect encrypted key files");
    keys->require_subcommand(1);
    std::string type = "ed25519", out_path, kdf = "moderate", show_path;
    auto* gen = keys->add_subcommand("gen", "Generate a key pair into an encrypted key file");
    gen->add_option("--type", type,
                    "ed25519 (signing: users, nodes) or x25519 (institution encryption)")
        ->check(CLI::IsMember({"ed25519", "x25519"}));
    gen->add_option("--out", out_path, "Key file to create (refuses to overwrite)")->required();
    gen->add_option("--kdf", kdf, "Argon2id cost: moderate (default), interactive")
        ->check(CLI::IsMember({"moderate", "interactive"}));
    auto* show = keys->add_subcommand(
        "show", "Print a key file's type and public key (no passphrase needed)");
    show->add_option("FILE", show_path, "Key file")->required();

    // status, peers
    auto* status = app.add_subcommand("status", "Node status: height, view, peers, sync");
    auto* peers =
        app.add_subcommand("peers", "The other validators and whether they are connected");

    // user, patient
    auto* user = app.add_subcommand("user", "Manage staff accounts (admins)");
    user->require_subcommand(1);
    std::string user_key_hex, user_key_file, role_name, handle, institution, reason;
    auto* ureg = user->add_subcommand("register", "Register a staff member's public key");
    auto* ukey_opt = ureg->add_option("--user-key", user_key_hex, "The user's public key (hex)");
    ureg->add_option("--user-key-file", user_key_file, "...or the user's key file")
        ->excludes(ukey_opt);
    ureg->add_option("--role", role_name,
                     "physician, physicist, therapist, integrator, auditor or admin")
        ->required();
    ureg->add_option("--handle", handle, "Staff account code (no names), e.g. dr-0042")->required();
    ureg->add_option("--institution", institution, "Institution id (default: the node's)");
    auto* udeact = user->add_subcommand("deactivate", "Deactivate a staff account");
    udeact->add_option("--user-key", user_key_hex, "The user's public key (hex)")->required();
    udeact->add_option("--reason", reason, "Reason code, e.g. left-department")->required();

    auto* patient = app.add_subcommand("patient", "Patients (pseudonyms only)");
    patient->require_subcommand(1);
    std::string pseudonym_hex, patient_key_hex, home;
    auto* preg = patient->add_subcommand(
        "register", "Register a patient pseudonym (a fresh random one unless given)");
    preg->add_option("--pseudonym", pseudonym_hex, "16-byte pseudonym in hex");
    preg->add_option("--patient-key", patient_key_hex,
                     "The patient's own Ed25519 public key (hex), for consent they sign");
    preg->add_option("--home", home, "Home institution id (default: the node's)");

    // record
    auto* record = app.add_subcommand("record", "Submit, fetch and list treatment records");
    record->require_subcommand(1);
    std::string file, kind_name, record_hex, purpose = "treatment", receipt_out;
    auto* rsub = record->add_subcommand("submit", "Encrypt and submit a record file");
    rsub->add_option("FILE", file, "The record (DICOM RT, FHIR JSON, document)")->required();
    rsub->add_option("--patient", pseudonym_hex, "Patient pseudonym (hex)")->required();
    rsub->add_option("--kind", kind_name, "Record kind (detected for DICOM and FHIR)");
    rsub->add_option("--receipt-out", receipt_out, "Write the commit receipt to this file");
    auto* rget = record->add_subcommand("get", "Fetch and decrypt a record you may read");
    rget->add_option("RECORD_ID", record_hex, "Record id (hex)")->required();
    rget->add_option("--out", out_path, "File to write ('-' for stdout)")->required();
    bool replace_out = false;
    rget->add_flag("--force", replace_out, "Replace the --out file if it exists");
    rget->add_option("--purpose", purpose, "Purpose code recorded in the audit trail")
        ->capture_default_str();
    auto* rlist = record->add_subcommand("list", "A patient's records you may read");
    rlist->add_option("--patient", pseudonym_hex, "Patient pseudonym (hex)")->required();

    // consent
    auto* consent = app.add_subcommand("consent", "A patient's consent grants");
    consent->require_subcommand(1);
    std::string to_inst, to_role, to_user, scope = "all", expires_in, grant_hex;
    auto* cgrant = consent->add_subcommand(
        "grant", "Grant access (sign with the patient's key or a home-institution admin key)");
    cgrant->add_option("--patient", pseudonym_hex, "Patient pseudonym (hex)")->required();
    auto* o1 = cgrant->add_option("--to-institution", to_inst, "Grantee: a whole institution");
    auto* o2 = cgrant->add_option("--to-role", to_role, "Grantee: INSTITUTION:ROLE");
    auto* o3 = cgrant->add_option("--to-user", to_user, "Grantee: one user's key (hex)");
    o1->excludes(o2)->excludes(o3);
    o2->excludes(o3);
    cgrant->add_option("--scope", scope, "all | kinds:KIND[,KIND...] | record:RECORD_ID")
        ->capture_default_str();
    cgrant->add_option("--expires-in", expires_in, "e.g. 30d; default: until revoked");
    auto* crevoke = consent->add_subcommand("revoke", "Revoke a grant");
    crevoke->add_option("--patient", pseudonym_hex, "Patient pseudonym (hex)")->required();
    crevoke->add_option("--grant", grant_hex, "Grant id (hex)")->required();
    auto* clist = consent->add_subcommand("list", "A patient's grants");
    clist->add_option("--patient", pseudonym_hex, "Patient pseudonym (hex)")->required();

    std::string duration = "1h";
    auto* bglass = app.add_subcommand(
        "break-glass", "Emergency access to a patient's records (physicians; always flagged)");
    bglass->add_option("--patient", pseudonym_hex, "Patient pseudonym (hex)")->required();
    bglass->add_option("--reason", reason, "Reason code, e.g. emergency-treatment")->required();
    bglass->add_option("--duration", duration, "1m..24h")->capture_default_str();

    auto* erase = app.add_subcommand(
        "erase", "Erase a record at the patient's request (patient key or home admin)");
    erase->add_option("RECORD_ID", record_hex, "Record id (hex)")->required();
    erase->add_option("--reason", reason, "Reason code, e.g. patient-request")->required();

    auto* audit = app.add_subcommand("audit", "Audit trail of a patient or a record");
    auto* ap = audit->add_option("--patient", pseudonym_hex, "Patient pseudonym (hex)");
    audit->add_option("--record", record_hex, "Record id (hex)")->excludes(ap);

    std::string synth_dir, synth_patient = "SYNTH-0001";
    int synth_fractions = 1;
    auto* synthetic = app.add_subcommand(
        "synthetic",
        "Write clearly synthetic DICOM test data: an RT Plan and RT Beams Treatment Records");
    synthetic->add_option("--out-dir", synth_dir, "Directory to write into")->required();
    synthetic->add_option("--patient-id", synth_patient, "Synthetic patient id inside the files")
        ->capture_default_str();
    synthetic->add_option("--fractions", synth_fractions, "Treatment records to write (1..40)")
        ->check(CLI::Range(1, 40))
        ->capture_default_str();

    auto* receipt = app.add_subcommand("receipt", "Commit receipts");
    receipt->require_subcommand(1);
    std::string tx_hex;
    auto* rcget = receipt->add_subcommand("get", "Fetch a receipt");
    auto* rr = rcget->add_option("--record", record_hex, "Record id (hex)");
    rcget->add_option("--tx", tx_hex, "Transaction id (hex)")->excludes(rr);
    rcget->add_option("--out", out_path, "Receipt file to write")->required();
    auto* rcverify = receipt->add_subcommand("verify", "Verify a receipt offline");
    rcverify->add_option("FILE", file, "Receipt file")->required();

    app.footer(
        "Connection: --node (or $ERTR_NODE), --key (or $ERTR_KEY), --genesis or --chain-id.\n"
        "Exit codes: 0 success, 1 failed, 2 usage error, 3 not authenticated or not allowed,\n"
        "4 not found, 5 unavailable or full (retry later; the message says if the node's\n"
        "operator must act first), 6 verification failed or data corrupt.");
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::ParseError& e) {
      app.exit(e);
      return 2;
    }
    if (version) {
      std::cout << ertr::kProductName << " ertrctl " << ertr::kVersion << "\n";
      return 0;
    }
    if (auto s = crypto::Init(); !s.ok()) return Fail(s);
    Output out(json);
    const bool tty = isatty(STDERR_FILENO) && !json;

    if (gen->parsed()) {
      auto pass = crypto::ReadPassphrase(pass_file, pass_env);
      if (!pass) return Fail(pass.error());
      auto cost =
          kdf == "interactive" ? crypto::KdfCost::Interactive() : crypto::KdfCost::Moderate();
      std::string pub;
      Status saved;
      if (type == "ed25519") {
        auto key = crypto::SigningKey::Generate();
        pub = key.public_key().ToHex();
        saved = crypto::SaveKeyFile(out_path, key, View(*pass), cost);
      } else {
        auto key = crypto::BoxKeyPair::Generate();
        pub = key.public_key().ToHex();
        saved = crypto::SaveKeyFile(out_path, key, View(*pass), cost);
      }
      if (!saved.ok()) return Fail(saved);
      out.Str("type", type).Str("public_key", pub).Str("file", out_path).Print();
      return 0;
    }
    if (show->parsed()) {
      auto bytes = crypto::ReadKeyFileBytes(show_path);
      if (!bytes) return Fail(bytes.error());
      auto info = crypto::InspectKeyFile(*bytes);
      if (!info) return Fail(info.error().WithContext(show_path));
      out.Str("type", info->type == crypto::KeyType::kEd25519 ? "ed25519" : "x25519")
          .Str("public_key", ertr::ToHex(info->public_key))
          .Str("kdf", "argon2id opslimit=" + std::to_string(info->cost.opslimit) +
                          " memlimit=" + std::to_string(info->cost.memlimit))
          .Print();
      return 0;
    }
    if (synthetic->parsed()) {
      std::error_code ec;
      fs::create_directories(synth_dir, ec);
      auto write = [&](const std::string& name, const ertr::Bytes& data) -> Status {
        const auto path = fs::path(synth_dir) / name;
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(data.data()),
                static_cast<std::streamsize>(data.size()));
        if (!f) return Status::IoError("cannot write " + path.string());
        out.Str("file", path.string()).Num("bytes", data.size()).Next();
        return Status::Ok();
      };
      auto plan = ertr::cli::MakeSyntheticRtPlan(synth_patient, 30, 2.0);
      if (!plan) return Fail(plan.error());
      if (auto s = write("rt-plan.dcm", plan->file); !s.ok()) return Fail(s);
      for (int f = 1; f <= synth_fractions; ++f) {
        auto rec = ertr::cli::MakeSyntheticBeamsTreatmentRecord(synth_patient, *plan, f);
        if (!rec) return Fail(rec.error());
        if (auto s = write("rt-beams-treatment-record-" + std::to_string(f) + ".dcm", *rec);
            !s.ok()) {
          return Fail(s);
        }
      }
      out.Print(true);
      return 0;
    }
    if (rcverify->parsed()) {
      if (genesis_file.empty()) {
        return Usage(Status::InvalidArgument("receipt verify needs --genesis GENESIS"));
      }
      auto genesis = ReadGenesis(genesis_file);
      if (!genesis) return Fail(genesis.error());
      std::ifstream in(file, std::ios::binary);
      if (!in) return Fail(Status::NotFound("cannot open " + file));
      // An empty file is read as such and refused below as not a receipt.
      const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      if (in.bad()) return Fail(Status::IoError("cannot read " + file));
      auto verifier = crypto::MakeEd25519Verifier();
      auto v = ertr::proto::VerifyReceipt(ertr::AsBytes(bytes), *genesis, *verifier);
      if (!v) {
        auto s = v.error();
        if (s.code() != StatusCode::kDataLoss) s = Status::DataLoss(s.message());
        return Fail(s.WithContext(file));
      }
      out.Str("receipt", "valid")
          .Str("chain_id", genesis->chain_id)
          .Num("height", v->header.height.value())
          .Str("block_hash", v->block_hash.ToHex())
          .Str("block_time", TimeText(v->header.time_ms))
          .Num("commit_votes", v->votes)
          .Num("validators", genesis->institutions.size())
          .Str("tx_id", v->transaction.signed_tx.id.ToHex())
          .Str("signer", v->transaction.signed_tx.header.signer.ToHex());
      if (v->record) {
        out.Str("record_id", v->record->record_id.ToHex())
            .Str("kind", std::string(ledger::RecordKindName(v->record->kind)))
            .Str("patient", v->record->patient.ToHex())
            .Str("uploader_institution", v->record->uploader_institution_id)
            .Num("ciphertext_size", v->record->ciphertext_size)
            .Str("ciphertext_digest", v->record->ciphertext_digest.ToHex());
      }
      out.Print();
      return 0;
    }

    // Everything below talks to a node.
    if (app.get_subcommands().empty()) {
      std::cerr << app.help();  // no command given: a usage error
      return 2;
    }
    if (key_file.empty()) {
      return Usage(Status::InvalidArgument("no user key: pass --key FILE (or set $ERTR_KEY)"));
    }
    if (copt.chain_id.empty() && !genesis_file.empty()) {
      auto genesis = ReadGenesis(genesis_file);
      if (!genesis) return Fail(genesis.error());
      copt.chain_id = genesis->chain_id;
    }
    auto pass = crypto::ReadPassphrase(pass_file, pass_env);
    if (!pass) return Fail(pass.error());
    auto kbytes = crypto::ReadKeyFileBytes(key_file);
    if (!kbytes) return Fail(kbytes.error());
    auto skey = crypto::DecodeSigningKeyFile(*kbytes, View(*pass));
    if (!skey) return Fail(skey.error().WithContext(key_file));
    auto client = ertr::cli::ApiClient::Connect(copt, crypto::MakeEd25519Signer(std::move(*skey)));
    if (!client) {
      // A malformed --node or a missing chain id: the command line cannot work.
      return client.error().code() == StatusCode::kInvalidArgument ? Usage(client.error())
                                                                   : Fail(client.error());
    }
    auto& api = **client;

    auto node_institution = [&]() -> Result<std::string> {
      ERTR_ASSIGN_OR_RETURN(auto st, api.GetStatus());
      return st.institution_id();
    };
    auto print_submit = [&](const ertr::cli::SubmitResult& r) {
      out.Str("tx_id", r.tx_id.ToHex())
          .Str("status",
               r.response.status() == v1::TRANSACTION_STATUS_ACCEPTED ? "committed" : "pending")
          .Num("height", r.response.height());
    };
    std::unique_ptr<crypto::Signer> author;  // --sign-as: the transaction's signer
    if (!sign_as.empty()) {
      auto abytes = crypto::ReadKeyFileBytes(sign_as);
      if (!abytes) return Fail(abytes.error());
      std::optional<crypto::SecureBuffer> own_pass;
      if (!sign_as_pass_file.empty()) {
        auto read = crypto::ReadPassphrase(sign_as_pass_file, "");
        if (!read) return Fail(read.error().WithContext("--sign-as-passphrase-file"));
        own_pass = std::move(*read);
      }
      auto akey = crypto::DecodeSigningKeyFile(*abytes, View(own_pass ? *own_pass : *pass));
      if (!akey) return Fail(akey.error().WithContext(sign_as));
      author = crypto::MakeEd25519Signer(std::move(*akey));
    }
    auto submit = [&](const ledger::Payload& payload) -> int {
      auto r = author ? api.SubmitSignedBy(*author, payload) : api.Submit(payload);
      if (!r) return Fail(r.error());
      print_submit(*r);
      out.Print();
      return 0;
    };

    if (status->parsed() || peers->parsed()) {
      auto st = api.GetStatus();
      if (!st) return Fail(st.error());
      if (peers->parsed()) {
        for (const auto& p : st->peers()) {
          out.Num("validator", p.validator_index())
              .Str("institution", p.institution_id())
              .Bool("connected", p.connected())
              .Next();
        }
        out.Print(true);
        return 0;
      }
      std::size_t connected = 0;
      for (const auto& p : st->peers()) connected += p.connected() ? 1 : 0;
      out.Str("chain_id", st->chain_id())
          .Str("institution", st->institution_id())
          .Num("validator_index", st->validator_index())
          .Num("height", st->height())
          .Str("state_root", Hex(st->state_root()))
          .Num("view", st->view())
          .Bool("view_changing", st->view_changing())
          .Num("peers_connected", connected)
          .Num("peers_total", static_cast<std::uint64_t>(st->peers_size()))
          .Bool("syncing", st->syncing())
          .Num("best_peer_height", st->best_peer_height())
          .Num("mempool_transactions", st->mempool_transactions())
          .Num("records_waiting_for_blob", st->records_waiting_for_blob())
          .Num("latest_block_time_ms", st->latest_block_time_ms())
          .Str("version", st->version())
          .Print();
      return 0;
    }
    if (ureg->parsed()) {
      ledger::RegisterUser u;
      if (!user_key_file.empty()) {
        auto b = crypto::ReadKeyFileBytes(user_key_file);
        if (!b) return Fail(b.error());
        auto info = crypto::InspectKeyFile(*b);
        if (!info) return Fail(info.error().WithContext(user_key_file));
        if (info->type != crypto::KeyType::kEd25519) {
          return Usage(Status::InvalidArgument(
              user_key_file +
              " holds an X25519 encryption key (an institution's), not a user's Ed25519 signing "
              "key; pass the user's key file from 'ertrctl keys gen'"));
        }
        auto k = crypto::PublicKey::FromSpan(info->public_key, "user key");
        if (!k) return Usage(k.error());
        u.user_key = *k;
      } else {
        if (user_key_hex.empty()) {
          return Usage(Status::InvalidArgument("pass --user-key HEX or --user-key-file FILE"));
        }
        auto k = ParseId<crypto::PublicKey>(user_key_hex, "--user-key");
        if (!k) return Usage(k.error());
        u.user_key = *k;
      }
      auto role = ParseRole(role_name);
      if (!role) return Usage(role.error());
      u.role = *role;
      u.staff_handle = handle;
      if (institution.empty()) {
        auto inst = node_institution();
        if (!inst) return Fail(inst.error());
        institution = *inst;
      }
      u.institution_id = institution;
      out.Str("user_key", u.user_key.ToHex())
          .Str("role", role_name)
          .Str("institution", institution);
      return submit(u);
    }
    if (udeact->parsed()) {
      auto k = ParseId<crypto::PublicKey>(user_key_hex, "--user-key");
      if (!k) return Usage(k.error());
      return submit(ledger::DeactivateUser{*k, reason});
    }
    if (preg->parsed()) {
      ledger::RegisterPatient p;
      if (pseudonym_hex.empty()) {
        p.pseudonym = crypto::RandomNonZeroId<ledger::Pseudonym>();
      } else {
        auto ps = ParseId<ledger::Pseudonym>(pseudonym_hex, "--pseudonym");
        if (!ps) return Usage(ps.error());
        p.pseudonym = *ps;
      }
      if (!patient_key_hex.empty()) {
        auto k = ParseId<crypto::PublicKey>(patient_key_hex, "--patient-key");
        if (!k) return Usage(k.error());
        p.patient_key = *k;
      }
      if (home.empty()) {
        auto inst = node_institution();
        if (!inst) return Fail(inst.error());
        home = *inst;
      }
      p.home_institution_id = home;
      out.Str("pseudonym", p.pseudonym.ToHex()).Str("home_institution", home);
      return submit(p);
    }
    if (rsub->parsed()) {
      auto ps = ParseId<ledger::Pseudonym>(pseudonym_hex, "--patient");
      if (!ps) return Usage(ps.error());
      ledger::RecordKind declared = ledger::RecordKind::kUnspecified;
      if (!kind_name.empty()) {
        auto k = ertr::cli::ParseRecordKind(kind_name);
        if (!k) return Usage(k.error());
        declared = *k;
      }
      if (std::error_code dir_ec; fs::is_directory(file, dir_ec)) {
        return Usage(Status::InvalidArgument(
            file +
            " is a directory: give one record file (to submit several, run ertrctl record "
            "submit once per file)"));
      }
      auto detected = ertr::cli::DetectRecordKind(file, declared);
      if (!detected) return Fail(detected.error());
      ledger::RecordKind kind = detected->kind;
      if (!kind_name.empty()) {
        const bool unsupported_as_document =
            kind == ledger::RecordKind::kUnspecified && declared == ledger::RecordKind::kDocument;
        if (detected->dicom && declared != kind && !unsupported_as_document) {
          return Usage(Status::InvalidArgument(
              file + " is a DICOM " + std::string(ledger::RecordKindName(kind)) + " (SOP class " +
              detected->sop_class_uid + "), not a " + kind_name + "; drop --kind"));
        }
        if (declared == ledger::RecordKind::kFhirResource && kind != declared) {
          return Usage(Status::InvalidArgument(
              file +
              " is not a FHIR resource in JSON (no \"resourceType\" near its start); pass "
              "--kind document to store it as an opaque document"));
        }
        kind = declared;
      }
      if (kind == ledger::RecordKind::kUnspecified && detected->dicom) {
        return Usage(Status::InvalidArgument(
            file + " is a DICOM object of SOP class " + detected->sop_class_uid +
            ", which is not an RT, CT or MR kind ertrchain stores; pass --kind document to store "
            "it as an opaque document"));
      }
      if (kind == ledger::RecordKind::kUnspecified) {
        return Usage(Status::InvalidArgument(
            file + " is neither DICOM nor FHIR JSON: pass --kind (e.g. --kind document)"));
      }
      std::error_code ec;
      const auto size = fs::file_size(file, ec);
      if (ec) return Fail(Status::NotFound("cannot read " + file + ": " + ec.message()));
      std::ifstream in(file, std::ios::binary);
      if (!in) return Fail(Status::NotFound("cannot open " + file));
      ProgressBar bar("uploading", tty);
      auto r = api.SubmitRecord(*ps, kind, in, size, [&](auto d, auto t) { bar(d, t); });
      if (!r) return Fail(r.error());
      const auto& got_receipt = r->submit.response.receipt();
      if (!receipt_out.empty()) {
        std::ofstream rf(receipt_out, std::ios::binary | std::ios::trunc);
        if (!rf || !got_receipt.SerializeToOstream(&rf)) {
          return Fail(Status::IoError("cannot write the receipt to " + receipt_out));
        }
      }
      out.Str("record_id", Hex(r->upload.record_id()))
          .Str("kind", std::string(ledger::RecordKindName(kind)))
          .Num("plaintext_size", r->upload.plaintext_size())
          .Str("plaintext_digest", Hex(r->upload.plaintext_digest()))  // `sha256sum FILE`
          .Num("ciphertext_size", r->upload.ciphertext_size())
          .Str("ciphertext_digest", Hex(r->upload.ciphertext_digest()));
      std::string env;
      for (const auto& e : r->upload.envelope_institutions()) env += (env.empty() ? "" : ",") + e;
      out.Str("key_envelopes", env);
      print_submit(r->submit);
      if (!receipt_out.empty()) out.Str("receipt", receipt_out);
      out.Print();
      return 0;
    }
    if (rget->parsed()) {
      auto id = ParseId<ledger::RecordId>(record_hex, "RECORD_ID");
      if (!id) return Usage(id.error());
      ProgressBar bar("downloading", tty && out_path != "-");
      auto progress = [&](auto d, auto t) { bar(d, t); };
      if (out_path == "-") {
        auto info = api.GetRecord(*id, purpose, std::cout, progress);
        if (!info) return Fail(info.error());
        return 0;
      }
      std::error_code ec;
      if (fs::is_directory(out_path, ec)) {
        return Usage(Status::InvalidArgument("--out " + out_path +
                                             " is a directory; give the file to write"));
      }
      // A file downloaded before (perhaps another record) is not replaced unless asked.
      const auto existing = fs::symlink_status(out_path, ec).type();
      if (ec && existing != fs::file_type::not_found) {
        return Fail(Status::IoError("cannot look at --out " + out_path + ": " + ec.message()));
      }
      if (!replace_out && existing != fs::file_type::not_found) {
        return Usage(Status::AlreadyExists("--out " + out_path +
                                           " exists; pass --force to replace it, or give another "
                                           "file"));
      }
      // A private temporary file beside the target (created exclusively, mode 0600), synced,
      // then renamed: the plaintext is never written through someone else's file or link.
      PartialFile partial_file(out_path);
      if (partial_file.fd() < 0) {
        return Fail(Status::IoError("cannot create a temporary file beside " + out_path + ": " +
                                    std::strerror(errno)));
      }
      const std::string partial = partial_file.path();
      FdSink sink(partial_file.fd());
      Result<v1::RecordInfo> info = Status::Internal("not fetched");
      {
        std::ostream f(&sink);
        info = api.GetRecord(*id, purpose, f, progress);
        f.flush();
        if (info && (!f || !sink.Sync())) {
          info = Status::IoError("writing " + partial + " failed (disk full?)");
        }
      }
      if (!sink.Close() && info) info = Status::IoError("closing " + partial + " failed");
      if (!info) return Fail(info.error());  // the temporary file is removed
      fs::rename(partial, out_path, ec);
      if (ec) return Fail(Status::IoError("cannot rename to " + out_path + ": " + ec.message()));
      partial_file.Kept();
      PrintRecord(out, *info);
      out.Num("bytes", fs::file_size(out_path, ec)).Str("file", out_path).Print();
      return 0;
    }
    if (rlist->parsed()) {
      auto ps = ParseId<ledger::Pseudonym>(pseudonym_hex, "--patient");
      if (!ps) return Usage(ps.error());
      auto list = api.ListRecords(*ps);
      if (!list) return Fail(list.error());
      for (const auto& r : list->records()) {
        PrintRecord(out, r);
        out.Next();
      }
      if (list->records_size() == 0 && !json) {
        std::cerr << "ertrctl: no records of patient " << ps->ToHex() << " that you may read\n";
      }
      out.Print(true);
      return 0;
    }
    if (cgrant->parsed()) {
      auto ps = ParseId<ledger::Pseudonym>(pseudonym_hex, "--patient");
      if (!ps) return Usage(ps.error());
      ledger::GrantConsent g;
      g.grant_id = crypto::RandomNonZeroId<ledger::GrantId>();
      g.patient = *ps;
      if (!to_inst.empty()) {
        g.grantee = ledger::GranteeInstitution{to_inst};
      } else if (!to_role.empty()) {
        const auto colon = to_role.find(':');
        if (colon == std::string::npos) {
          return Usage(Status::InvalidArgument("--to-role must be INSTITUTION:ROLE"));
        }
        auto role = ParseRole(to_role.substr(colon + 1));
        if (!role) return Usage(role.error());
        g.grantee = ledger::GranteeRole{to_role.substr(0, colon), *role};
      } else if (!to_user.empty()) {
        auto k = ParseId<crypto::PublicKey>(to_user, "--to-user");
        if (!k) return Usage(k.error());
        g.grantee = ledger::GranteeUser{*k};
      } else {
        return Usage(
            Status::InvalidArgument("name the grantee: --to-institution, --to-role or --to-user"));
      }
      if (scope == "all") {
        g.scope = ledger::ScopeAll{};
      } else if (scope.rfind("kinds:", 0) == 0) {
        ledger::ScopeKinds k;
        std::stringstream ss(scope.substr(6));
        for (std::string item; std::getline(ss, item, ',');) {
          auto kind = ertr::cli::ParseRecordKind(item);
          if (!kind) return Usage(kind.error());
          k.kinds.push_back(*kind);
        }
        std::sort(k.kinds.begin(), k.kinds.end());
        k.kinds.erase(std::unique(k.kinds.begin(), k.kinds.end()), k.kinds.end());
        g.scope = k;
      } else if (scope.rfind("record:", 0) == 0) {
        auto id = ParseId<ledger::RecordId>(scope.substr(7), "--scope record:");
        if (!id) return Usage(id.error());
        g.scope = ledger::ScopeRecord{*id};
      } else {
        return Usage(Status::InvalidArgument("--scope must be all, kinds:K1,K2 or record:ID"));
      }
      if (!expires_in.empty()) {
        auto d = ParseDuration(expires_in, "--expires-in");
        if (!d) return Usage(d.error());
        if (*d == 0) {
          return Usage(Status::InvalidArgument(
              "--expires-in must be longer than 0 (leave it out for a grant until revoked)"));
        }
        const auto now =
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
        g.expires_at_ms = now + *d;
        out.Str("expires", TimeText(g.expires_at_ms));
      }
      out.Str("grant_id", g.grant_id.ToHex());
      return submit(g);
    }
    if (crevoke->parsed()) {
      auto ps = ParseId<ledger::Pseudonym>(pseudonym_hex, "--patient");
      if (!ps) return Usage(ps.error());
      auto g = ParseId<ledger::GrantId>(grant_hex, "--grant");
      if (!g) return Usage(g.error());
      return submit(ledger::RevokeConsent{*g, *ps});
    }
    if (clist->parsed()) {
      auto ps = ParseId<ledger::Pseudonym>(pseudonym_hex, "--patient");
      if (!ps) return Usage(ps.error());
      auto list = api.ListGrants(*ps);
      if (!list) return Fail(list.error());
      for (const auto& g : list->grants()) {
        out.Str("grant_id", Hex(g.grant_id()))
            .Str("grantee", GranteeText(g.grantee()))
            .Str("scope", ScopeText(g.scope()))
            .Str("expires", g.expires_at_ms() ? TimeText(g.expires_at_ms()) : "never")
            .Num("granted_height", g.granted_height())
            .Bool("revoked", g.revoked())
            .Bool("active", g.active())
            .Next();
      }
      out.Print(true);
      return 0;
    }
    if (bglass->parsed()) {
      auto ps = ParseId<ledger::Pseudonym>(pseudonym_hex, "--patient");
      if (!ps) return Usage(ps.error());
      auto d = ParseDuration(duration, "--duration");
      if (!d) return Usage(d.error());
      // Said here: the chain would commit the request, rejected, for good.
      if (*d < ledger::kMinBreakGlassMs || *d > ledger::kMaxBreakGlassMs) {
        return Usage(Status::InvalidArgument("--duration must be between 1m and 24h, got '" +
                                             duration + "'"));
      }
      return submit(ledger::BreakGlass{*ps, reason, *d});
    }
    if (erase->parsed()) {
      auto id = ParseId<ledger::RecordId>(record_hex, "RECORD_ID");
      if (!id) return Usage(id.error());
      return submit(ledger::EraseRecord{*id, reason});
    }
    if (audit->parsed()) {
      v1::GetAuditTrailRequest req;
      if (!pseudonym_hex.empty()) {
        auto ps = ParseId<ledger::Pseudonym>(pseudonym_hex, "--patient");
        if (!ps) return Usage(ps.error());
        req.set_patient_pseudonym(std::string(ertr::AsStringView(ps->span())));
      } else if (!record_hex.empty()) {
        auto id = ParseId<ledger::RecordId>(record_hex, "--record");
        if (!id) return Usage(id.error());
        req.set_record_id(std::string(ertr::AsStringView(id->span())));
      } else {
        return Usage(Status::InvalidArgument("audit needs --patient or --record"));
      }
      auto trail = api.AuditTrail(req);
      if (!trail) return Fail(trail.error());
      for (const auto& e : trail->entries()) {
        out.Num("height", e.height())
            .Str("time", TimeText(e.event_time_ms() ? e.event_time_ms() : e.time_ms()))
            .Str("event", e.kind())
            .Str("actor", Hex(e.actor()))
            .Str("actor_institution", e.actor_institution());
        if (!e.record_id().empty()) out.Str("record_id", Hex(e.record_id()));
        if (!e.grant_id().empty()) out.Str("grant_id", Hex(e.grant_id()));
        if (!e.detail().empty()) out.Str("detail", e.detail());
        out.Bool("flagged", e.flagged()).Next();
      }
      out.Print(true);
      return 0;
    }
    if (rcget->parsed()) {
      v1::GetReceiptRequest req;
      if (!record_hex.empty()) {
        auto id = ParseId<ledger::RecordId>(record_hex, "--record");
        if (!id) return Usage(id.error());
        req.set_record_id(std::string(ertr::AsStringView(id->span())));
      } else if (!tx_hex.empty()) {
        auto id = ParseId<crypto::Digest>(tx_hex, "--tx");
        if (!id) return Usage(id.error());
        req.set_tx_id(std::string(ertr::AsStringView(id->span())));
      } else {
        return Usage(Status::InvalidArgument("receipt get needs --record or --tx"));
      }
      auto r = api.GetReceipt(req);
      if (!r) return Fail(r.error());
      std::ofstream f(out_path, std::ios::binary | std::ios::trunc);
      if (!f || !r->SerializeToOstream(&f)) {
        return Fail(Status::IoError("cannot write " + out_path));
      }
      out.Str("receipt", out_path).Num("bytes", r->ByteSizeLong()).Print();
      return 0;
    }
    std::cerr << app.help();  // no command given: a usage error
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "ertrctl: unexpected error: " << e.what() << "\n";
    return 1;
  }
}
