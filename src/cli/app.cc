// The mailseal command line: every subcommand's options and help, and the
// dispatch to the functions in commands.h. No decisions live here.

#include "cli/app.h"

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/output.h"
#include "mailseal/common/escape.h"
#include "mailseal/contacts/evidence.h"
#include "mailseal/udf/shamir.h"
#include "mailseal/udf/udf.h"

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

struct Arguments {
  GlobalOptions globals;
  InitArgs init;
  FingerprintArgs fingerprint;
  ExportCertificatesArgs export_certificates;
  ExportPkcs12Args export_pkcs12;
  ExportMobileconfigArgs export_mobileconfig;
  SetupThunderbirdArgs setup_thunderbird;
  SetupMuttArgs setup_mutt;
  SetupGatewayArgs setup_gateway;
  ImportPkcs12Args import_pkcs12;
  UdfArgs udf;
  SignArgs sign;
  EncryptArgs encrypt;
  DecryptArgs decrypt;
  VerifyArgs verify;
  ContactImportArgs contact_import;
  LearnArgs learn;
  ContactPinArgs contact_pin;
  ContactAcceptArgs contact_accept;
  ContactUnpinArgs contact_unpin;
  EndorseArgs endorse;
  ExportEndorsementsArgs export_endorsements;
  ExportRotationArgs export_rotation;
  ExportRevocationArgs export_revocation;
  TrustArgs trust;
  TrustAnchorAddArgs trust_anchor_add;
  TrustAnchorRemoveArgs trust_anchor_remove;
  ServeArgs serve;
  ServiceSmimeaArgs service_smimea;
  GatewayArgs gateway;
  CredentialAddArgs credential_add;
  CredentialRemoveArgs credential_remove;
  ServiceArgs publish;
  LookupArgs lookup;
  AddressConfirmArgs address_confirm;
  AddressWithdrawArgs address_withdraw;
  DeviceJoinArgs device_join;
  ServiceArgs device_pending;
  DeviceDecisionArgs device_accept;
  DeviceDecisionArgs device_reject;
  DeviceInviteArgs device_invite;
  DeviceRemoveArgs device_remove;
  ServiceArgs sync;
  RecoveryCreateArgs recovery_create;
  RecoveryRestoreArgs recovery_restore;
};

// What each group of commands needs while it is defined: the global options
// (every subcommand accepts them too) and the action the command given on the
// command line selects.
class Definitions {
 public:
  Definitions(GlobalOptions& globals, Action& action) : globals_(globals), action_(action) {}

  // A (sub)command with the global options and, if given, an example for its help.
  CLI::App* subcommand(CLI::App& parent, const std::string& name, const std::string& summary,
                       const std::string& example) {
    CLI::App* command = parent.add_subcommand(name, summary);
    add_global_options(*command, globals_);
    if (!example.empty()) {
      command->footer("Example:\n  " + example);
    }
    return command;
  }

  // A command that only groups others: one of them must be given.
  CLI::App* group(CLI::App& parent, const std::string& name, const std::string& summary) {
    CLI::App* command = subcommand(parent, name, summary, "");
    command->require_subcommand(1);
    return command;
  }

  // When `command` is the one given, `run` runs with its parsed `args`.
  template <typename Args>
  void runs(CLI::App* command, int (*run)(const Context&, const Args&), const Args& args) {
    command->callback([&action = action_, run, &args] {
      action = [run, &args](const Context& context) { return run(context, args); };
    });
  }
  void runs(CLI::App* command, int (*run)(const Context&)) {
    command->callback([&action = action_, run] { action = run; });
  }

  Action& action() noexcept { return action_; }

 private:
  GlobalOptions& globals_;
  Action& action_;
};

// The message a command reads: a file, else stdin.
void add_message_input(CLI::App* command, std::string& target) {
  command->add_option("input", target, "The message (default: stdin)")->type_name("IN");
}

void add_output_option(CLI::App* command, std::string& target) {
  command->add_option("-o,--output", target, "Output file (default: stdout)");
}

void add_service_option(CLI::App* command, std::string& target) {
  command->add_option("--service", target, "The key service (default: the one this profile remembers)")
      ->type_name("URL");
}

// init, status, fingerprint
void define_profile_commands(Definitions& d, CLI::App& app, Arguments& args) {
  auto* init = d.subcommand(app, "init", "Create a profile: root, this device, and mail keys for each address",
                            "mailseal init alice@example.com --name 'Alice Example'");
  init->add_option("address", args.init.addresses, "Email addresses of the profile")->required()->type_name("ADDRESS");
  init->add_option("--name", args.init.name, "The person's name (default: the first address)");
  init->add_option("--suite", args.init.suite, "Algorithms: compat (RSA-3072, every client) or modern (P-256)")
      ->check(CLI::IsMember({"compat", "modern"}));
  init->add_option("--device-name", args.init.device_name, "Name of this device (default: the host name)");
  init->add_option("--service", args.init.service, "Publish the profile to this key service (and remember it)")
      ->type_name("URL");
  d.runs(init, run_init, args.init);

  auto* status = d.subcommand(app, "status", "Show the profile, its devices and whether its keys are encrypted",
                              "mailseal status --json");
  d.runs(status, run_status);

  auto* fingerprint =
      d.subcommand(app, "fingerprint", "Print the profile fingerprint", "mailseal fingerprint --bits 200");
  fingerprint->add_option("--bits", args.fingerprint.bits, "Precision, a multiple of 20 (default 140)")
      ->check(CLI::Range(udf::kMinimumBits, udf::kFullBits));
  d.runs(fingerprint, run_fingerprint, args.fingerprint);
}

// export certificates, endorsements, rotation, revocation, pkcs12, mobileconfig
void define_export_commands(Definitions& d, CLI::App& app, Arguments& args) {
  auto* export_command = d.group(app, "export", "Export certificates or keys for other mail clients");
  auto* certificates = d.subcommand(*export_command, "certificates", "Write the mail certificates then the root, PEM",
                                    "mailseal export certificates -o alice.pem");
  add_output_option(certificates, args.export_certificates.output);
  d.runs(certificates, run_export_certificates, args.export_certificates);
  auto* endorsements = d.subcommand(*export_command, "endorsements",
                                    "Write your root and the endorsements you made, for others to import",
                                    "mailseal export endorsements -o endorsements.pem");
  add_output_option(endorsements, args.export_endorsements.output);
  d.runs(endorsements, run_export_endorsements, args.export_endorsements);
  auto* rotation = d.subcommand(*export_command, "rotation",
                                "Sign a statement that a new profile replaces this one, so contacts see no conflict",
                                "mailseal export rotation new-profile.pem -o rotation.pem");
  rotation->add_option("successor", args.export_rotation.successor, "The new profile's certificates (its root)")
      ->required()
      ->type_name("FILE");
  add_output_option(rotation, args.export_rotation.output);
  d.runs(rotation, run_export_rotation, args.export_rotation);
  auto* revocation = d.subcommand(*export_command, "revocation",
                                  "Revoke this profile's root (it was lost or stolen): a CRL to publish",
                                  "mailseal export revocation -o revocation.pem");
  add_output_option(revocation, args.export_revocation.output);
  d.runs(revocation, run_export_revocation, args.export_revocation);
  auto* pkcs12 = d.subcommand(*export_command, "pkcs12", "Write the mail private keys and chain as PKCS#12",
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
  pkcs12->add_flag("--ask-for-cbc", args.export_pkcs12.ask_for_cbc,
                   "The keys go to a client without AES-GCM (Outlook, gpgsm): re-issue the encryption certificates "
                   "to ask senders for AES-CBC first");
  d.runs(pkcs12, run_export_pkcs12, args.export_pkcs12);
  auto* mobileconfig =
      d.subcommand(*export_command, "mobileconfig", "Write an Apple configuration profile (iPhone, iPad, macOS Mail)",
                   "mailseal export mobileconfig -o alice.mobileconfig");
  mobileconfig->add_option("-o,--output", args.export_mobileconfig.output, "Output file")->required();
  mobileconfig->add_option("--password-file", args.export_mobileconfig.password_file,
                           "Password of the keys inside (default: a new random one, printed)");
  mobileconfig->add_flag("--include-password", args.export_mobileconfig.include_password,
                         "Put the password in the profile: no question at install, but the file is then a secret");
  d.runs(mobileconfig, run_export_mobileconfig, args.export_mobileconfig);
}

// The options `gateway` and `setup gateway` share: where it listens, the
// upstream it relays to, its policy and its TLS for clients.
void add_gateway_settings(CLI::App& gateway, gateway::GatewaySettings& settings) {
  gateway.add_option("--listen", settings.listen, "HOST:PORT for mail clients (default 127.0.0.1:10587)")
      ->type_name("HOST:PORT");
  gateway.add_option("--upstream", settings.upstream, "The submission server to relay to")
      ->required()
      ->type_name("HOST:PORT");
  gateway.add_option("--upstream-tls", settings.upstream_tls, "none, starttls or tls (default none)")
      ->type_name("MODE");
  gateway.add_option("--upstream-ca", settings.upstream_ca, "Trust these CA certificates for the upstream")
      ->type_name("FILE");
  gateway.add_option("--upstream-user", settings.upstream_user, "Authenticate to the upstream as USER")
      ->type_name("USER");
  gateway
      .add_option("--upstream-password-file", settings.upstream_password_file,
                  "... with the password in FILE (mode 0600)")
      ->type_name("FILE");
  gateway
      .add_option("--policy", settings.policy,
                  "opportunistic (sign, encrypt when possible) or required (refuse what cannot be encrypted)")
      ->type_name("POLICY");
  gateway.add_option("--tls-cert", settings.tls_certificate, "Offer STARTTLS to clients with this certificate")
      ->type_name("FILE");
  gateway.add_option("--tls-key", settings.tls_key, "... and this private key (PEM)")->type_name("FILE");
  gateway
      .add_option("--sync", settings.sync,
                  "Seconds between syncs with the key service: accepts devices joining by PIN, takes new keys, "
                  "renews certificates (default 60; 0: never)")
      ->type_name("SECONDS");
}

// setup gateway
void define_setup_gateway(Definitions& d, CLI::App& setup, SetupGatewayArgs& args) {
  auto* gateway =
      d.subcommand(setup, "gateway", "Run the gateway as a per-user service (systemd) and point mail clients at it",
                   "mailseal setup gateway --upstream smtp.example.com:587 --upstream-tls starttls "
                   "--thunderbird ~/.thunderbird/abcd1234.default-release");
  add_gateway_settings(*gateway, args.settings);
  auto* thunderbird =
      gateway
          ->add_option("--thunderbird", args.thunderbird,
                       "Make the gateway this Thunderbird profile's outgoing server and save its password there")
          ->type_name("DIR");
  gateway
      ->add_option("--database-password-file", args.database_password_file,
                   "The primary password of the Thunderbird profile's key database, if it has one")
      ->type_name("FILE")
      ->needs(thunderbird);
  gateway->add_option("--mutt", args.mutt, "Write mutt's key files and smtp_url for the gateway into DIR")
      ->type_name("DIR");
  gateway
      ->add_option("--credential", args.credential,
                   "Make a credential NAME for another client and print its settings (default mail-client when "
                   "neither --thunderbird nor --mutt is given)")
      ->type_name("NAME");
  d.runs(gateway, run_setup_gateway, args);
}

// setup thunderbird, mutt, gateway
void define_setup_commands(Definitions& d, CLI::App& app, Arguments& args) {
  auto* setup = d.group(app, "setup", "Configure an existing mail client for this profile");
  auto* thunderbird =
      d.subcommand(*setup, "thunderbird", "Import the keys into a Thunderbird profile and select them for its accounts",
                   "mailseal setup thunderbird --profile ~/.thunderbird/abcd1234.default-release");
  thunderbird->add_option("--profile", args.setup_thunderbird.profile, "The Thunderbird profile directory")
      ->required()
      ->type_name("DIR");
  thunderbird
      ->add_option("--database-password-file", args.setup_thunderbird.database_password_file,
                   "The primary password of Thunderbird's key database, if it has one")
      ->type_name("FILE");
  d.runs(thunderbird, run_setup_thunderbird, args.setup_thunderbird);
  auto* mutt = d.subcommand(*setup, "mutt", "Write key files for mutt/neomutt and print the muttrc lines",
                            "mailseal setup mutt --dir ~/.mutt/smime >> ~/.muttrc");
  mutt->add_option("--dir", args.setup_mutt.directory, "Where to write the key files (default HOME/.mutt/mailseal)")
      ->type_name("DIR");
  mutt->add_option("--gateway", args.setup_mutt.gateway,
                   "HOST:PORT of the mailseal gateway mutt submits through (default 127.0.0.1:10587)")
      ->type_name("HOST:PORT");
  d.runs(mutt, run_setup_mutt, args.setup_mutt);
  define_setup_gateway(d, *setup, args.setup_gateway);
}

// import pkcs12
void define_import_commands(Definitions& d, CLI::App& app, Arguments& args) {
  auto* import_command = d.group(app, "import", "Import an existing S/MIME identity");
  auto* import_pkcs12 = d.subcommand(*import_command, "pkcs12", "Adopt the keys of a PKCS#12 as additional mail keys",
                                     "mailseal import pkcs12 from-ca.p12 --password-file pw.txt");
  import_pkcs12->add_option("file", args.import_pkcs12.file, "The PKCS#12 file")->required();
  import_pkcs12->add_option("--password-file", args.import_pkcs12.password_file,
                            "Password of the file (default: empty)");
  d.runs(import_pkcs12, run_import_pkcs12, args.import_pkcs12);
}

// sign, encrypt, decrypt, verify
void define_message_commands(Definitions& d, CLI::App& app, Arguments& args) {
  auto* sign = d.subcommand(app, "sign", "Sign a message (RFC 5322) as the From address",
                            "mailseal sign message.eml -o signed.eml");
  add_message_input(sign, args.sign.input);
  add_output_option(sign, args.sign.output);
  sign->add_flag("--opaque", args.sign.opaque, "application/pkcs7-mime signed-data instead of multipart/signed");
  d.runs(sign, run_sign, args.sign);

  auto* encrypt = d.subcommand(app, "encrypt", "Sign, then encrypt to every recipient and to yourself",
                               "mailseal encrypt message.eml -o encrypted.eml");
  add_message_input(encrypt, args.encrypt.input);
  add_output_option(encrypt, args.encrypt.output);
  encrypt->add_option("--to", args.encrypt.to, "Recipient (repeatable; default: To, Cc and Bcc)")->type_name("ADDR");
  encrypt->add_flag("--no-sign", args.encrypt.no_sign, "Encrypt without signing inside");
  encrypt->add_flag("--gcm", args.encrypt.gcm,
                    "AES-256-GCM, for recipients who read with mailseal only (Thunderbird 153 cannot read it)");
  encrypt->add_flag("--subject-in-clear", args.encrypt.subject_in_clear,
                    "Leave the Subject readable outside the encryption (clients without RFC 9788 show it)");
  d.runs(encrypt, run_encrypt, args.encrypt);

  auto* decrypt = d.subcommand(app, "decrypt", "Decrypt a message, verify its inner signature, restore its headers",
                               "mailseal decrypt encrypted.eml -o message.eml");
  add_message_input(decrypt, args.decrypt.input);
  decrypt->add_option("-o,--output", args.decrypt.output, "Output file (default: stdout; with --json: not written)");
  decrypt->add_flag("--allow-bad-signature", args.decrypt.allow_bad_signature,
                    "Write the message even though its inner signature is not valid (exit status stays 1)");
  decrypt->add_flag("--allow-unauthenticated", args.decrypt.allow_unauthenticated,
                    "Write an unsigned message encrypted without authentication (CBC) although it may have been "
                    "altered in transit");
  decrypt->add_flag("--no-learn", args.decrypt.no_learn, "Do not record the sender's key and history");
  d.runs(decrypt, run_decrypt, args.decrypt);

  auto* verify = d.subcommand(app, "verify", "Check a message's signature (exit 0 only when it is valid)",
                              "mailseal verify signed.eml --json");
  add_message_input(verify, args.verify.input);
  verify->add_option("-o,--output", args.verify.output, "Write the signed content there when the signature is valid");
  verify->add_flag("--no-learn", args.verify.no_learn, "Do not record the sender's key and history");
  verify
      ->add_option("--require-trust", args.verify.require_trust,
                   "Exit 1 unless trust in the signer is at least this level")
      ->check(CLI::IsMember({"full", "partial", "marginal", "none"}))
      ->type_name("LEVEL");
  d.runs(verify, run_verify, args.verify);
}

// contact import, list, pin, accept, unpin; learn
void define_contact_commands(Definitions& d, CLI::App& app, Arguments& args) {
  auto* contact = d.group(app, "contact", "Correspondents' certificates");
  auto* contact_import =
      d.subcommand(*contact, "import", "Import certificates (PEM, DER, .p7c) or the signer of a signed message",
                   "mailseal contact import bob.pem");
  contact_import->add_option("file", args.contact_import.file, "The file")->required();
  d.runs(contact_import, run_contact_import, args.contact_import);
  auto* contact_list = d.subcommand(*contact, "list", "List the contacts", "mailseal contact list --json");
  d.runs(contact_list, run_contact_list);
  auto* contact_pin = d.subcommand(*contact, "pin", "Record a fingerprint you compared with the person",
                                   "mailseal contact pin bob@example.org MB2G-QXQK-DBHN-5W4D-3RTB-NOUN-GD5G");
  contact_pin->add_option("address", args.contact_pin.first, "ADDRESS, or a strong address FINGERPRINT?ADDRESS")
      ->required()
      ->type_name("ADDRESS|STRONG-ADDRESS");
  contact_pin->add_option("fingerprint", args.contact_pin.second, "Any UDF presentation of at least 100 bits")
      ->type_name("FINGERPRINT");
  d.runs(contact_pin, run_contact_pin, args.contact_pin);
  auto* contact_accept = d.subcommand(*contact, "accept", "Settle a conflict: this key is the one for the address",
                                      "mailseal contact accept bob@example.org MB2G-QXQK-DBHN-5W4D-3RTB-NOUN-GD5G");
  contact_accept->add_option("address", args.contact_accept.address, "The address")->required()->type_name("ADDRESS");
  contact_accept->add_option("fingerprint", args.contact_accept.fingerprint, "Fingerprint of the key to keep")
      ->required()
      ->type_name("FINGERPRINT");
  d.runs(contact_accept, run_contact_accept, args.contact_accept);
  auto* contact_unpin =
      d.subcommand(*contact, "unpin", "Take back a pin or acceptance (all of the address's, or one fingerprint's)",
                   "mailseal contact unpin bob@example.org MB2G-QXQK-DBHN-5W4D-3RTB-NOUN-GD5G");
  contact_unpin->add_option("address", args.contact_unpin.address, "The address")->required()->type_name("ADDRESS");
  contact_unpin->add_option("fingerprint", args.contact_unpin.fingerprint, "Only the pin of this fingerprint")
      ->type_name("FINGERPRINT");
  d.runs(contact_unpin, run_contact_unpin, args.contact_unpin);

  auto* learn = d.subcommand(app, "learn", "Learn the sender's key and history from a signed message",
                             "mailseal learn signed.eml");
  add_message_input(learn, args.learn.input);
  d.runs(learn, run_learn, args.learn);
}

// endorse; trust, trust anchor add, list, remove
void define_trust_commands(Definitions& d, CLI::App& app, Arguments& args) {
  auto* endorse = d.subcommand(app, "endorse", "Vouch for a contact's key with your profile root",
                               "mailseal endorse carol@example.org --depth 1 --scope example.org");
  endorse->add_option("address", args.endorse.address, "The contact")->required()->type_name("ADDRESS");
  endorse->add_option("--amount", args.endorse.amount, "How sure you are, 1 to 120 (default 120: fully)")
      ->check(CLI::Range(contacts::kMinEndorsementAmount, trust::kFullAmount));
  endorse->add_option("--depth", args.endorse.depth, "How far they may introduce others (default 0: they may not)")
      ->check(CLI::Range(0, contacts::kMaxEndorsementDepth));
  endorse
      ->add_option("--scope", args.endorse.scope,
                   "Only for addresses in this domain (example.org, .example.org) or this address (repeatable)")
      ->type_name("DOMAIN");
  auto* local = endorse->add_flag("--local", args.endorse.local, "Keep the endorsement to yourself: never exported");
  endorse
      ->add_flag("--withdraw", args.endorse.withdraw,
                 "Take back the endorsements you made of the contact's key (on every device, after sync)")
      ->excludes(local)
      ->excludes("--amount")
      ->excludes("--depth")
      ->excludes("--scope");
  d.runs(endorse, run_endorse, args.endorse);

  auto* trust = d.subcommand(app, "trust", "Show how far a key is trusted for an address, and why",
                             "mailseal trust bob@example.org --dot | dot -Tsvg > bob.svg");
  trust->add_option("address", args.trust.address, "The address")->type_name("ADDRESS");
  trust->add_flag("--dot", args.trust.dot, "Write the paths as Graphviz");
  auto* anchor = d.group(*trust, "anchor", "PKIX trust anchors (CA certificates)");
  auto* anchor_add = d.subcommand(*anchor, "add", "Trust a CA's certificates for addresses it certifies",
                                  "mailseal trust anchor add company-ca.pem --amount 60");
  anchor_add->add_option("file", args.trust_anchor_add.file, "The CA certificate(s)")->required();
  anchor_add->add_option("--amount", args.trust_anchor_add.amount, "How much the CA counts (default 60: partial)")
      ->check(CLI::Range(contacts::kMinAnchorAmount, trust::kFullAmount));
  d.runs(anchor_add, run_trust_anchor_add, args.trust_anchor_add);
  auto* anchor_list = d.subcommand(*anchor, "list", "List the trust anchors", "mailseal trust anchor list");
  d.runs(anchor_list, run_trust_anchor_list);
  auto* anchor_remove = d.subcommand(*anchor, "remove", "Stop trusting a CA (on every device, after sync)",
                                     "mailseal trust anchor remove MB2G-QXQK-DBHN-5W4D-3RTB-NOUN-GD5G");
  anchor_remove->add_option("fingerprint", args.trust_anchor_remove.fingerprint, "As 'trust anchor list' shows it")
      ->required()
      ->type_name("FINGERPRINT");
  d.runs(anchor_remove, run_trust_anchor_remove, args.trust_anchor_remove);
  trust->callback([&action = d.action(), &args, trust] {
    if (trust->get_subcommands().empty()) {
      if (args.trust.address.empty())
        throw CLI::RequiredError("ADDRESS");
      action = [&args](const Context& c) { return run_trust(c, args.trust); };
    }
  });
}

// publish, lookup, sync
void define_service_commands(Definitions& d, CLI::App& app, Arguments& args) {
  auto* publish = d.subcommand(app, "publish", "Publish the profile, its devices and its escrow to the key service",
                               "mailseal publish --service http://127.0.0.1:8080");
  add_service_option(publish, args.publish.service);
  d.runs(publish, run_publish, args.publish);

  auto* lookup = d.subcommand(app, "lookup", "Find a correspondent's profile on the key service (discovery, not trust)",
                              "mailseal lookup bob@example.org");
  lookup->add_option("address", args.lookup.address, "The address")->required()->type_name("ADDRESS");
  add_service_option(lookup, args.lookup.service);
  d.runs(lookup, run_lookup, args.lookup);

  auto* address = d.group(app, "address", "This profile's addresses on the key service: confirm, withdraw");
  auto* confirm =
      d.subcommand(*address, "confirm", "Answer the key service's challenge mail with its token (instead of the link)",
                   "mailseal address confirm https://keys.example.org/verify/5f0c...");
  confirm->add_option("token", args.address_confirm.token, "The token, or the whole link from the mail")
      ->required()
      ->type_name("TOKEN|LINK");
  add_service_option(confirm, args.address_confirm.service);
  d.runs(confirm, run_address_confirm, args.address_confirm);
  auto* withdraw =
      d.subcommand(*address, "withdraw", "Have the key service stop handing out the profile for an address",
                   "mailseal address withdraw alice@example.com");
  withdraw->add_option("address", args.address_withdraw.address, "The address")->required()->type_name("ADDRESS");
  add_service_option(withdraw, args.address_withdraw.service);
  d.runs(withdraw, run_address_withdraw, args.address_withdraw);

  auto* sync =
      d.subcommand(app, "sync", "Finish joining, receive new keys, accept devices invited by PIN", "mailseal sync");
  add_service_option(sync, args.sync.service);
  d.runs(sync, run_sync, args.sync);
}

// device join, pending, accept, reject, invite, list, remove
void define_device_commands(Definitions& d, CLI::App& app, Arguments& args) {
  auto* device = d.group(app, "device", "This profile's devices: join, accept, invite, remove");
  auto* join = d.subcommand(*device, "join", "On a new device: ask to join a profile",
                            "mailseal device join alice@example.com --service https://keys.example.com --name phone");
  join->add_option("address", args.device_join.address, "An address of the profile")->required()->type_name("ADDRESS");
  join->add_option("--service", args.device_join.service, "The key service the profile is published on")
      ->required()
      ->type_name("URL");
  join->add_option("--pin", args.device_join.pin, "A PIN from 'mailseal device invite' (no witness to compare)");
  join->add_option("--name", args.device_join.name, "This device's name (default: the host name)");
  join->add_option("--wait", args.device_join.wait,
                   "Seconds to wait for an admin device to accept and send the keys (default 600 with --pin, "
                   "0 without: finish with 'mailseal sync')")
      ->type_name("SECONDS")
      ->check(CLI::NonNegativeNumber);
  d.runs(join, run_device_join, args.device_join);
  auto* pending = d.subcommand(*device, "pending", "Requests to join, with the witness each device shows",
                               "mailseal device pending");
  add_service_option(pending, args.device_pending.service);
  d.runs(pending, run_device_pending, args.device_pending);
  auto* accept = d.subcommand(*device, "accept", "Accept the device showing this witness (or with this request id)",
                              "mailseal device accept MB2G-QXQK-DBHN-5W4D-3RTB-NOUN --role read");
  accept->add_option("witness", args.device_accept.selector, "The witness, or the request id")
      ->required()
      ->type_name("WITNESS|ID");
  accept->add_option("--role", args.device_accept.role, "full (decrypts and signs, default) or read (decrypts only)")
      ->check(CLI::IsMember({"full", "read"}));
  add_service_option(accept, args.device_accept.service);
  d.runs(accept, run_device_accept, args.device_accept);
  auto* reject = d.subcommand(*device, "reject", "Refuse a request to join, or every pending one (--all)",
                              "mailseal device reject REQUEST_ID");
  reject->add_option("witness", args.device_reject.selector, "The witness, or the request id")->type_name("WITNESS|ID");
  reject->add_flag("--all", args.device_reject.all, "Reject every pending request (a queue spammed by strangers)");
  add_service_option(reject, args.device_reject.service);
  d.runs(reject, run_device_reject, args.device_reject);
  auto* invite = d.subcommand(*device, "invite", "A one-time PIN that lets a device join without comparing",
                              "mailseal device invite --expires 10m");
  invite->add_option("--expires", args.device_invite.expires, "How long the PIN works: 90s, 10m (default), 2h, 1d")
      ->type_name("DURATION");
  invite->add_option("--role", args.device_invite.role, "full (default) or read")
      ->check(CLI::IsMember({"full", "read"}));
  add_service_option(invite, args.device_invite.service);
  d.runs(invite, run_device_invite, args.device_invite);
  auto* list = d.subcommand(*device, "list", "The profile's devices", "mailseal device list --json");
  d.runs(list, run_device_list);
  auto* remove = d.subcommand(*device, "remove", "Remove a device: revoke it and rotate the keys",
                              "mailseal device remove MBJJ-CNCY-PCEM-G5LY-QKX7");
  remove->add_option("device", args.device_remove.device_id, "The device id ('mailseal device list')")
      ->required()
      ->type_name("DEVICE_ID");
  add_service_option(remove, args.device_remove.service);
  d.runs(remove, run_device_remove, args.device_remove);
}

// recovery create, restore
void define_recovery_commands(Definitions& d, CLI::App& app, Arguments& args) {
  auto* recovery = d.group(app, "recovery", "Shares of the profile's root secret, and restoring from them");
  auto* create = d.subcommand(*recovery, "create", "Split the root secret into shares (any QUORUM restore it)",
                              "mailseal recovery create --shares 3 --quorum 2");
  create->add_option("--shares", args.recovery_create.shares, "How many shares (default 3)")
      ->check(CLI::Range(2, udf::kMaxShares));
  create->add_option("--quorum", args.recovery_create.quorum, "How many restore the profile (default 2)")
      ->check(CLI::Range(2, udf::kMaxQuorum));
  d.runs(create, run_recovery_create, args.recovery_create);
  auto* restore = d.subcommand(*recovery, "restore", "Restore the profile on this device from shares",
                               "mailseal recovery restore SHARE1 SHARE2 --service https://keys.example.com");
  restore->add_option("shares", args.recovery_restore.shares, "The shares")->required()->type_name("SHARE");
  restore->add_option("--service", args.recovery_restore.service, "The key service that keeps the escrow")
      ->required()
      ->type_name("URL");
  restore->add_option("--name", args.recovery_restore.name, "This device's name");
  restore->add_flag("--accept-old-escrow", args.recovery_restore.accept_old_escrow,
                    "Restore even from an escrow older than a revocation list the profile's root signed "
                    "(devices removed since may be listed active)");
  d.runs(restore, run_recovery_restore, args.recovery_restore);
}

// serve's options against abuse (docs/service.md, "Abuse").
void define_serve_limits(CLI::App* serve, ServeArgs& args) {
  serve->add_option("--limit", args.limits,
                    "A rate limit NAME=COUNT/PERIOD (lookup, signed, new-profile, client-mails, account, "
                    "account-mails, address-mails, joins; PERIOD 30s, 10m, 1h, 1d; COUNT 0: none), repeatable")
      ->type_name("NAME=COUNT/PERIOD");
  serve->add_option("--max-document-kib", args.max_document_kib, "KiB one profile may keep here (default 1024)")
      ->type_name("KIB");
  serve->add_option("--max-addresses", args.max_addresses, "Addresses one profile may name (default 32)")->type_name("N");
  serve->add_option("--max-devices", args.max_devices, "Devices one profile may list (default 64)")->type_name("N");
  serve->add_option("--max-certificates", args.max_certificates, "Certificates one profile may publish (default 256)")
      ->type_name("N");
  serve->add_option("--max-waiting-joins", args.max_waiting_joins,
                    "Join requests without a PIN kept waiting per profile; the oldest goes (default 32)")
      ->type_name("N");
  serve->add_option("--join-minutes", args.join_minutes, "Minutes an undecided join request waits (default 60)")
      ->type_name("MINUTES");
  serve->add_option("--join-retention-days", args.join_retention_days,
                    "Days a rejected or expired join request is kept (its device learns the rejection), then "
                    "deleted with its keys (default 7)")
      ->type_name("DAYS");
  serve->add_option("--workers", args.workers, "Threads serving connections (default 8)")->type_name("N");
  serve->add_flag("--reuse-port", args.reuse_port,
                  "Share the port with other serve processes of this user (SO_REUSEPORT; docs/service.md)");
  serve->add_option("--max-connections", args.max_connections, "Connections open at once (default 1000)")
      ->type_name("N");
  serve->add_option("--max-connections-per-client", args.max_connections_per_client,
                    "Connections open at once from one client address (default 128)")
      ->type_name("N");
  serve->add_option("--request-seconds", args.request_seconds,
                    "Seconds a client has to send a request's header and body, or to take an answer (default 30)")
      ->type_name("SECONDS");
  serve->add_option("--idle-seconds", args.idle_seconds, "Seconds a connection may stay silent (default 10)")
      ->type_name("SECONDS");
  serve->add_option("--trusted-proxy", args.trusted_proxies,
                    "A reverse proxy (IP address) whose forwarding header names the client, repeatable")
      ->type_name("ADDRESS");
  serve->add_option("--proxy-header", args.proxy_header,
                    "The header trusted proxies name the client in: x-forwarded-for (default) or forwarded")
      ->type_name("NAME");
}

// serve, gateway
void define_server_commands(Definitions& d, CLI::App& app, Arguments& args) {
  auto* serve = d.subcommand(app, "serve", "Run a key service (until SIGINT or SIGTERM)",
                             "mailseal serve --listen 127.0.0.1:8080 --db service.db");
  serve->add_option("--listen", args.serve.listen, "HOST:PORT to listen on (port 0: any free port)")
      ->type_name("HOST:PORT");
  serve
      ->add_option("--db", args.serve.database,
                   "The service's database: a SQLite file (default mailseal-service.db), or postgresql://... "
                   "that several serve processes may share")
      ->type_name("FILE|URI");
  serve->add_option("--tls-cert", args.serve.tls_certificate, "Serve HTTPS with this certificate (PEM)")
      ->type_name("FILE");
  serve->add_option("--tls-key", args.serve.tls_key, "... and this private key (PEM)")->type_name("FILE");
  serve
      ->add_option("--smtp", args.serve.smtp,
                   "Verify addresses: mail a challenge to each through this relay before serving it")
      ->type_name("HOST:PORT");
  serve->add_option("--smtp-tls", args.serve.smtp_tls, "none, starttls or tls (default none)")->type_name("MODE");
  serve->add_option("--smtp-ca", args.serve.smtp_ca, "Trust these CA certificates for the relay")->type_name("FILE");
  serve->add_option("--smtp-user", args.serve.smtp_user, "Authenticate to the relay as USER")->type_name("USER");
  serve->add_option("--smtp-password-file", args.serve.smtp_password_file, "... with the password in FILE (mode 0600)")
      ->type_name("FILE");
  serve
      ->add_option("--public-url", args.serve.public_url,
                   "The service's address as people reach it: the base of the links in mails (default: --listen)")
      ->type_name("URL");
  serve->add_option("--mail-from", args.serve.mail_from, "The From of challenge mails (default keys@ the URL's host)")
      ->type_name("ADDRESS");
  serve
      ->add_option("--claim-hours", args.serve.claim_hours,
                   "Hours an unanswered claim to an address is kept (default 48)")
      ->type_name("HOURS");
  serve->add_option("--link-hours", args.serve.token_hours, "Hours the link in a challenge mail works (default 24)")
      ->type_name("HOURS");
  serve->add_flag("--unverified", args.serve.unverified,
                  "Serve addresses without proof, first come first served (the default on loopback without --smtp)");
  define_serve_limits(serve, args.serve);
  d.runs(serve, run_serve, args.serve);

  auto* service = d.group(app, "service", "Look into a key service's database (the service's administrator)");
  auto* smimea = d.subcommand(*service, "smimea",
                              "Print DNS SMIMEA records (RFC 8162) for a domain's verified addresses, as zone-file lines",
                              "mailseal service smimea --domain example.org --db service.db");
  smimea->add_option("--domain", args.service_smimea.domain, "The domain whose addresses to print")
      ->type_name("DOMAIN")
      ->required();
  smimea
      ->add_option("--db", args.service_smimea.database,
                   "The service's database: a SQLite file (default mailseal-service.db), or postgresql://...")
      ->type_name("DATABASE");
  smimea->add_option("--ttl", args.service_smimea.ttl, "The records' TTL in seconds (default 3600)")
      ->type_name("SECONDS");
  d.runs(smimea, run_service_smimea, args.service_smimea);

  auto* gateway = d.subcommand(app, "gateway", "Run the SMTP submission gateway (until SIGINT or SIGTERM)",
                               "mailseal gateway --listen 127.0.0.1:10587 --upstream smtp.example.com:587 "
                               "--upstream-tls starttls");
  add_gateway_settings(*gateway, args.gateway);
  gateway->add_option("--max-size", args.gateway.max_size, "Largest message accepted, in bytes (default 25 MiB)")
      ->type_name("BYTES");
  gateway->add_option("--timeout", args.gateway.timeout, "Seconds to wait for a client or the upstream (default 300)")
      ->type_name("SECONDS");
  gateway
      ->add_option("--auth-timeout", args.gateway.auth_timeout,
                   "Seconds a client has to authenticate after connecting (default 30)")
      ->type_name("SECONDS");
  gateway
      ->add_option("--max-per-client", args.gateway.max_sessions_per_client,
                   "Simultaneous sessions from one client address (default 8)")
      ->type_name("N");
  gateway
      ->add_option("--refresh", args.gateway.refresh,
                   "Seconds before a recipient's keys are fetched again from the key service (default 3600)")
      ->type_name("SECONDS");
  d.runs(gateway, run_gateway, args.gateway);

  d.runs(d.subcommand(app, "resident",
                      "Keep mailseal loaded so that each sign, encrypt, decrypt or verify starts at once "
                      "(until SIGINT or SIGTERM)",
                      "setsid mailseal resident &   (or the user service 'setup gateway' installs)"),
         run_resident);

  auto* credential = d.group(app, "credential", "Credentials mail clients submit to the gateway with (SMTP AUTH)");
  auto* add = d.subcommand(*credential, "add", "Make a credential and print its secret, once",
                           "mailseal credential add thunderbird --address alice@example.com");
  add->add_option("name", args.credential_add.name, "Its name: the SMTP AUTH user name")->required();
  add->add_option("--address", args.credential_add.addresses,
                  "A From address it may sign for (repeatable; default all of the profile's)")
      ->type_name("ADDRESS");
  add->add_flag("--replace", args.credential_add.replace, "Replace a credential of that name (a new secret)");
  d.runs(add, run_credential_add, args.credential_add);
  d.runs(d.subcommand(*credential, "list", "List the credentials (never their secrets)", ""), run_credential_list);
  auto* remove = d.subcommand(*credential, "remove", "Remove a credential: its clients can no longer submit",
                              "mailseal credential remove thunderbird");
  remove->add_option("name", args.credential_remove.name, "The credential's name")->required();
  d.runs(remove, run_credential_remove, args.credential_remove);
}

// udf
void define_udf_command(Definitions& d, CLI::App& app, Arguments& args) {
  auto* udf = d.subcommand(app, "udf", "Print the UDF fingerprint of data",
                           "printf 'UDF Data Value' | mailseal udf --content-type text/plain");
  udf->add_option("--content-type", args.udf.content_type, "Content type (default application/octet-stream)");
  udf->add_flag("--sha3", args.udf.sha3, "Use SHA-3-512 instead of SHA-2-512");
  udf->add_option("--bits", args.udf.bits, "Precision, a multiple of 20 (default 140)")
      ->check(CLI::Range(udf::kBitsPerGroup, udf::kFullBits));
  auto* parse =
      udf->add_option("--parse", args.udf.parse, "Describe a UDF or strong address given as text (no FILE read)")
          ->type_name("TEXT");
  udf->add_option("input", args.udf.input, "File to fingerprint, or - for stdin (default)")->type_name("FILE|-");
  udf->callback([&action = d.action(), &args, parse] {
    args.udf.parse_given = parse->count() > 0;
    action = [&args](const Context& c) { return run_udf(c, args.udf); };
  });
}

// Every command, in the order `mailseal --help` lists them, by group: the
// top-level commands each group defines, and the function that defines them.
// The code that runs each is in commands.h.
struct CommandGroup {
  std::initializer_list<std::string_view> commands;
  void (*define)(Definitions&, CLI::App&, Arguments&);
};
const CommandGroup kCommandGroups[] = {
    {{"init", "status", "fingerprint"}, define_profile_commands},
    {{"export"}, define_export_commands},
    {{"setup"}, define_setup_commands},
    {{"import"}, define_import_commands},
    {{"sign", "encrypt", "decrypt", "verify"}, define_message_commands},
    {{"contact", "learn"}, define_contact_commands},
    {{"endorse", "trust"}, define_trust_commands},
    {{"publish", "lookup", "address", "sync"}, define_service_commands},
    {{"device"}, define_device_commands},
    {{"recovery"}, define_recovery_commands},
    {{"serve", "service", "gateway", "resident", "credential"}, define_server_commands},
    {{"udf"}, define_udf_command},
};

// The groups a command line needs: those with a command among its words, or
// every group when no word names a command (`mailseal --help`, a typing
// error). A command's own options are all it parses, so defining only its
// group spares a one-message command most of CLI11's four hundred options
// (a third of the heap `encrypt` peaks at). Every word that names a command
// brings its group, so the parse sees every command it would have seen.
std::vector<const CommandGroup*> groups_for(std::span<const std::string_view> words) {
  std::vector<const CommandGroup*> named;
  for (const CommandGroup& group : kCommandGroups) {
    if (std::ranges::any_of(group.commands,
                            [&](std::string_view command) { return std::ranges::find(words, command) != words.end(); }))
      named.push_back(&group);
  }
  if (named.empty()) {
    for (const CommandGroup& group : kCommandGroups)
      named.push_back(&group);
  }
  return named;
}

void define_commands(CLI::App& app, Arguments& args, Action& action, std::span<const std::string_view> words) {
  Definitions definitions(args.globals, action);
  for (const CommandGroup* group : groups_for(words))
    group->define(definitions, app, args);
}

// What a command line's words are: the arguments after the program's name.
std::vector<std::string_view> words_of(int argc, char** argv) {
  std::vector<std::string_view> words;
  for (int i = 1; i < argc; ++i)
    words.emplace_back(argv[i]);
  return words;
}

}  // namespace

class CommandLine {
 public:
  explicit CommandLine(std::span<const std::string_view> words)
      : app{"mailseal: S/MIME email with hybrid trust and keys on every device", "mailseal"} {
    app.set_version_flag("--version", kVersion);
    app.require_subcommand(1);
    app.fallthrough();
    add_global_options(app, args.globals);
    define_commands(app, args, action, words);
  }
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  CLI::App app;
  Arguments args;
  Action action;
};

void CommandLineDeleter::operator()(CommandLine* definitions) const noexcept {
  delete definitions;
}

struct PreparedCommandLines::Prepared {
  const CommandGroup* group;
  std::unique_ptr<CommandLine, CommandLineDeleter> definitions;
};

PreparedCommandLines::PreparedCommandLines(std::span<const std::string_view> commands) {
  for (const CommandGroup* group : groups_for(commands)) {
    // A command of the group alone names the group alone.
    const std::string_view command = *group->commands.begin();
    prepared_.push_back(
        {group, std::unique_ptr<CommandLine, CommandLineDeleter>(new CommandLine(std::span(&command, 1)))});
  }
}

PreparedCommandLines::~PreparedCommandLines() = default;

CommandLine& PreparedCommandLines::for_command_line(int argc, char** argv) {
  const std::vector<std::string_view> words = words_of(argc, argv);
  const std::vector<const CommandGroup*> groups = groups_for(words);
  for (const auto& [group, definitions] : prepared_) {
    if (groups.size() == 1 && groups.front() == group)
      return *definitions;
  }
  built_.reset(new CommandLine(words));
  return *built_;
}

std::vector<std::string> commands_defined_for(std::span<const std::string_view> words) {
  return commands_defined_in(CommandLine(words));
}

std::vector<std::string> commands_defined_in(const CommandLine& definitions) {
  std::vector<std::string> names;
  for (const CLI::App* command : definitions.app.get_subcommands([](const CLI::App*) { return true; }))
    names.push_back(command->get_name());
  return names;
}

int run(int argc, char** argv) {
  const std::vector<std::string_view> words = words_of(argc, argv);
  return run(*std::unique_ptr<CommandLine, CommandLineDeleter>(new CommandLine(words)), argc, argv);
}

int run(CommandLine& definitions, int argc, char** argv) {
  auto& [app, args, action] = definitions;
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
    Context context(args.globals, std::span<char* const>(argv, static_cast<std::size_t>(argc)));
    return action(context);
  } catch (const Error& error) {
    print_error(escape_for_terminal(error.what()), escape_for_terminal(error.hint()));
    return exit_status_for(error);
  } catch (const std::exception& error) {
    print_error(escape_for_terminal(error.what()));
    return 1;
  }
}

}  // namespace mailseal::cli
