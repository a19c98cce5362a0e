// The mailseal command line: every subcommand's options and help, and the
// dispatch to the functions in commands.h. No decisions live here.

#include "cli/app.h"

#include <functional>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/output.h"
#include "mailseal/common/escape.h"

namespace mailseal::cli {

namespace {

using Action = std::function<int(const Context&)>;

constexpr const char* kVersion = "mailseal 0.1.0";

// Adds the global options to a (sub)command, so they are accepted before or
// after the subcommand name (DESIGN.md section 8).
void add_global_options(CLI::App& command, GlobalOptions& globals) {
  command
      .add_option("--home", globals.home, "The store to use (default: $MAILSEAL_HOME, then ~/.local/share/mailseal)")
      ->type_name("DIR");
  command.add_flag("--json", globals.json, "Print one JSON document on stdout");
  command
      .add_option("--passphrase-file", globals.passphrase_file,
                  "Passphrase protecting the private keys (else $MAILSEAL_PASSPHRASE)")
      ->type_name("FILE");
}

CLI::App* subcommand(CLI::App& parent, GlobalOptions& globals, const std::string& name, const std::string& summary,
                     const std::string& example) {
  CLI::App* command = parent.add_subcommand(name, summary);
  add_global_options(*command, globals);
  if (!example.empty()) {
    command->footer("Example:\n  " + example);
  }
  return command;
}

struct Arguments {
  GlobalOptions globals;
  InitArgs init;
  FingerprintArgs fingerprint;
  ExportCertificatesArgs export_certificates;
  ExportPkcs12Args export_pkcs12;
  ImportPkcs12Args import_pkcs12;
  UdfArgs udf;
  SignArgs sign;
  EncryptArgs encrypt;
  DecryptArgs decrypt;
  VerifyArgs verify;
  ContactImportArgs contact_import;
};

void define_commands(CLI::App& app, Arguments& args, Action& action) {
  auto& g = args.globals;

  auto* init = subcommand(app, g, "init", "Create a profile: root, this device, and mail keys for each address",
                          "mailseal init alice@example.com --name 'Alice Example'");
  init->add_option("address", args.init.addresses, "Email addresses of the profile")->required()->type_name("ADDRESS");
  init->add_option("--name", args.init.name, "The person's name (default: the first address)");
  init->add_option("--suite", args.init.suite, "Algorithms: compat (RSA-3072, every client) or modern (P-256)")
      ->check(CLI::IsMember({"compat", "modern"}));
  init->add_option("--device-name", args.init.device_name, "Name of this device (default: the host name)");
  init->callback([&] { action = [&](const Context& c) { return run_init(c, args.init); }; });

  auto* status = subcommand(app, g, "status", "Show the profile, its devices and whether its keys are encrypted",
                            "mailseal status --json");
  status->callback([&] { action = [](const Context& c) { return run_status(c); }; });

  auto* fingerprint =
      subcommand(app, g, "fingerprint", "Print the profile fingerprint", "mailseal fingerprint --bits 200");
  fingerprint->add_option("--bits", args.fingerprint.bits, "Precision, a multiple of 20 (default 140)")
      ->check(CLI::Range(100, 520));
  fingerprint->callback([&] { action = [&](const Context& c) { return run_fingerprint(c, args.fingerprint); }; });

  auto* export_command = subcommand(app, g, "export", "Export certificates or keys for other mail clients", "");
  export_command->require_subcommand(1);
  auto* certificates = subcommand(*export_command, g, "certificates", "Write the mail certificates then the root, PEM",
                                  "mailseal export certificates -o alice.pem");
  certificates->add_option("-o,--output", args.export_certificates.output, "Output file (default: stdout)");
  certificates->callback(
      [&] { action = [&](const Context& c) { return run_export_certificates(c, args.export_certificates); }; });
  auto* pkcs12 = subcommand(*export_command, g, "pkcs12", "Write the mail private keys and chain as PKCS#12",
                            "mailseal export pkcs12 -o alice.p12 --password-file pw.txt");
  pkcs12->add_option("-o,--output", args.export_pkcs12.output, "Output file")->required();
  pkcs12->add_option("--address", args.export_pkcs12.address, "Only this address's keys");
  pkcs12->add_option("--password-file", args.export_pkcs12.password_file,
                     "Password for the file (default: a new random one, printed)");
  pkcs12
      ->add_option("--purpose", args.export_pkcs12.purpose,
                   "Only the signing or the encryption keys (gpgsm imports one key a file)")
      ->check(CLI::IsMember({"signing", "encryption"}));
  pkcs12->add_flag("--legacy", args.export_pkcs12.legacy, "3DES/SHA-1 protection, for gpgsm 2.2 and old clients");
  pkcs12->callback([&] { action = [&](const Context& c) { return run_export_pkcs12(c, args.export_pkcs12); }; });

  auto* import_command = subcommand(app, g, "import", "Import an existing S/MIME identity", "");
  import_command->require_subcommand(1);
  auto* import_pkcs12 = subcommand(*import_command, g, "pkcs12", "Adopt the keys of a PKCS#12 as additional mail keys",
                                   "mailseal import pkcs12 from-ca.p12 --password-file pw.txt");
  import_pkcs12->add_option("file", args.import_pkcs12.file, "The PKCS#12 file")->required();
  import_pkcs12->add_option("--password-file", args.import_pkcs12.password_file,
                            "Password of the file (default: empty)");
  import_pkcs12->callback([&] { action = [&](const Context& c) { return run_import_pkcs12(c, args.import_pkcs12); }; });

  auto* sign = subcommand(app, g, "sign", "Sign a message (RFC 5322) as the From address",
                          "mailseal sign message.eml -o signed.eml");
  sign->add_option("input", args.sign.input, "The message (default: stdin)")->type_name("IN");
  sign->add_option("-o,--output", args.sign.output, "Output file (default: stdout)");
  sign->add_flag("--opaque", args.sign.opaque, "application/pkcs7-mime signed-data instead of multipart/signed");
  sign->callback([&] { action = [&](const Context& c) { return run_sign(c, args.sign); }; });

  auto* encrypt = subcommand(app, g, "encrypt", "Sign, then encrypt to every recipient and to yourself",
                             "mailseal encrypt message.eml -o encrypted.eml");
  encrypt->add_option("input", args.encrypt.input, "The message (default: stdin)")->type_name("IN");
  encrypt->add_option("-o,--output", args.encrypt.output, "Output file (default: stdout)");
  encrypt->add_option("--to", args.encrypt.to, "Recipient (repeatable; default: To, Cc and Bcc)")->type_name("ADDR");
  encrypt->add_flag("--no-sign", args.encrypt.no_sign, "Encrypt without signing inside");
  encrypt->callback([&] { action = [&](const Context& c) { return run_encrypt(c, args.encrypt); }; });

  auto* decrypt = subcommand(app, g, "decrypt", "Decrypt a message, verify its inner signature, restore its headers",
                             "mailseal decrypt encrypted.eml -o message.eml");
  decrypt->add_option("input", args.decrypt.input, "The message (default: stdin)")->type_name("IN");
  decrypt->add_option("-o,--output", args.decrypt.output, "Output file (default: stdout; with --json: not written)");
  decrypt->add_flag("--allow-bad-signature", args.decrypt.allow_bad_signature,
                    "Write the message even though its inner signature is not valid (exit status stays 1)");
  decrypt->callback([&] { action = [&](const Context& c) { return run_decrypt(c, args.decrypt); }; });

  auto* verify = subcommand(app, g, "verify", "Check a message's signature (exit 0 only when it is valid)",
                            "mailseal verify signed.eml --json");
  verify->add_option("input", args.verify.input, "The message (default: stdin)")->type_name("IN");
  verify->add_option("-o,--output", args.verify.output, "Write the signed content there when the signature is valid");
  verify->callback([&] { action = [&](const Context& c) { return run_verify(c, args.verify); }; });

  auto* contact = subcommand(app, g, "contact", "Correspondents' certificates", "");
  contact->require_subcommand(1);
  auto* contact_import =
      subcommand(*contact, g, "import", "Import certificates (PEM, DER, .p7c) or the signer of a signed message",
                 "mailseal contact import bob.pem");
  contact_import->add_option("file", args.contact_import.file, "The file")->required();
  contact_import->callback(
      [&] { action = [&](const Context& c) { return run_contact_import(c, args.contact_import); }; });
  auto* contact_list = subcommand(*contact, g, "list", "List the contacts", "mailseal contact list --json");
  contact_list->callback([&] { action = [](const Context& c) { return run_contact_list(c); }; });

  auto* udf = subcommand(app, g, "udf", "Print the UDF fingerprint of data",
                         "printf 'UDF Data Value' | mailseal udf --content-type text/plain");
  udf->add_option("--content-type", args.udf.content_type, "Content type (default application/octet-stream)");
  udf->add_flag("--sha3", args.udf.sha3, "Use SHA-3-512 instead of SHA-2-512");
  udf->add_option("--bits", args.udf.bits, "Precision, a multiple of 20 (default 140)")->check(CLI::Range(20, 520));
  auto* parse =
      udf->add_option("--parse", args.udf.parse, "Describe a UDF or strong address given as text (no FILE read)")
          ->type_name("TEXT");
  udf->add_option("input", args.udf.input, "File to fingerprint, or - for stdin (default)")->type_name("FILE|-");
  udf->callback([&, parse] {
    args.udf.parse_given = parse->count() > 0;
    action = [&](const Context& c) { return run_udf(c, args.udf); };
  });
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"mailseal: S/MIME email with hybrid trust and keys on every device", "mailseal"};
  app.set_version_flag("--version", kVersion);
  app.require_subcommand(1);
  app.fallthrough();
  Arguments args;
  add_global_options(app, args.globals);
  Action action;
  define_commands(app, args, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);
  } catch (const CLI::ParseError& error) {
    print_error(escape_for_terminal(error.what()), "see 'mailseal --help' or 'mailseal COMMAND --help'");
    return 2;
  }
  try {
    Context context(args.globals);
    return action(context);
  } catch (const Error& error) {
    print_error(escape_for_terminal(error.what()), error.hint());
    return exit_status_for(error);
  } catch (const std::exception& error) {
    print_error(escape_for_terminal(error.what()));
    return 1;
  }
}

}  // namespace mailseal::cli
