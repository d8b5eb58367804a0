// ertrctl: the ertrchain client for operators, clinicians and integrators.

#include <CLI/CLI.hpp>

#include <iostream>
#include <string_view>

#include "common/version.h"
#include "crypto/init.h"
#include "crypto/key_file.h"
#include "crypto/passphrase.h"

namespace {

using ertr::Status;

int Fail(const Status& s) {
  std::cerr << "ertrctl: " << s.ToString() << "\n";
  return 1;
}

std::string_view View(const ertr::crypto::SecureBuffer& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    CLI::App app{"ertrctl - client for an ertrchain network of radiation-oncology departments.",
                 "ertrctl"};
    bool version = false;
    app.add_flag("--version", version, "Print the version and exit");
    app.require_subcommand(0, 1);

    auto* keys = app.add_subcommand("keys", "Create and inspect encrypted key files");
    keys->require_subcommand(1);
    std::string type = "ed25519", out_path, kdf = "moderate", pass_file,
                pass_env = "ERTR_PASSPHRASE", show_path;
    auto* gen = keys->add_subcommand("gen", "Generate a key pair into an encrypted key file");
    gen->add_option("--type", type,
                    "ed25519 (signing: users, nodes) or x25519 (institution encryption)")
        ->check(CLI::IsMember({"ed25519", "x25519"}));
    gen->add_option("--out", out_path, "Key file to create (refuses to overwrite)")->required();
    gen->add_option("--kdf", kdf, "Argon2id cost: moderate (default), interactive")
        ->check(CLI::IsMember({"moderate", "interactive"}));
    gen->add_option("--passphrase-file", pass_file,
                    "Read the passphrase from this file's first line");
    gen->add_option("--passphrase-env", pass_env, "Environment variable with the passphrase")
        ->capture_default_str();
    auto* show = keys->add_subcommand(
        "show", "Print a key file's type and public key (no passphrase needed)");
    show->add_option("FILE", show_path, "Key file")->required();

    app.footer(
        "Records, consent, audit and receipts arrive with the API (see README.md).\n"
        "Exit codes: 0 success, 1 the operation failed (message on stderr), 2 usage error.");
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
    if (auto s = ertr::crypto::Init(); !s.ok()) return Fail(s);

    if (gen->parsed()) {
      auto pass = ertr::crypto::ReadPassphrase(pass_file, pass_env);
      if (!pass) return Fail(pass.error());
      auto cost = kdf == "interactive" ? ertr::crypto::KdfCost::Interactive()
                                       : ertr::crypto::KdfCost::Moderate();
      std::string pub;
      Status saved;
      if (type == "ed25519") {
        auto key = ertr::crypto::SigningKey::Generate();
        pub = key.public_key().ToHex();
        saved = ertr::crypto::SaveKeyFile(out_path, key, View(*pass), cost);
      } else {
        auto key = ertr::crypto::BoxKeyPair::Generate();
        pub = key.public_key().ToHex();
        saved = ertr::crypto::SaveKeyFile(out_path, key, View(*pass), cost);
      }
      if (!saved.ok()) return Fail(saved);
      std::cout << "type: " << type << "\npublic_key: " << pub << "\nfile: " << out_path << "\n";
      return 0;
    }
    if (show->parsed()) {
      auto bytes = ertr::crypto::ReadKeyFileBytes(show_path);
      if (!bytes) return Fail(bytes.error());
      auto info = ertr::crypto::InspectKeyFile(*bytes);
      if (!info) return Fail(info.error().WithContext(show_path));
      std::cout << "type: "
                << (info->type == ertr::crypto::KeyType::kEd25519 ? "ed25519" : "x25519")
                << "\npublic_key: " << ertr::ToHex(info->public_key)
                << "\nkdf: argon2id opslimit=" << info->cost.opslimit
                << " memlimit=" << info->cost.memlimit << "\n";
      return 0;
    }
    std::cout << app.help();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ertrctl: unexpected error: " << e.what() << "\n";
    return 1;
  }
}
