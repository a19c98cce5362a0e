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
#include "mailseal/contacts/evidence.h"

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
  ExportMobileconfigArgs export_mobileconfig;
  SetupThunderbirdArgs setup_thunderbird;
  SetupMuttArgs setup_mutt;
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
  EndorseArgs endorse;
  ExportEndorsementsArgs export_endorsements;
  ExportRotationArgs export_rotation;
  ExportRevocationArgs export_revocation;
  TrustArgs trust;
  TrustAnchorAddArgs trust_anchor_add;
  ServeArgs serve;
  GatewayArgs gateway;
  ServiceArgs publish;
  LookupArgs lookup;
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

void define_commands(CLI::App& app, Arguments& args, Action& action) {
  auto& g = args.globals;

  auto* init = subcommand(app, g, "init", "Create a profile: root, this device, and mail keys for each address",
                          "mailseal init alice@example.com --name 'Alice Example'");
  init->add_option("address", args.init.addresses, "Email addresses of the profile")->required()->type_name("ADDRESS");
  init->add_option("--name", args.init.name, "The person's name (default: the first address)");
  init->add_option("--suite", args.init.suite, "Algorithms: compat (RSA-3072, every client) or modern (P-256)")
      ->check(CLI::IsMember({"compat", "modern"}));
  init->add_option("--device-name", args.init.device_name, "Name of this device (default: the host name)");
  init->add_option("--service", args.init.service, "Publish the profile to this key service (and remember it)")
      ->type_name("URL");
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
  auto* endorsements = subcommand(*export_command, g, "endorsements",
                                  "Write your root and the endorsements you made, for others to import",
                                  "mailseal export endorsements -o endorsements.pem");
  endorsements->add_option("-o,--output", args.export_endorsements.output, "Output file (default: stdout)");
  endorsements->callback(
      [&] { action = [&](const Context& c) { return run_export_endorsements(c, args.export_endorsements); }; });
  auto* rotation = subcommand(*export_command, g, "rotation",
                              "Sign a statement that a new profile replaces this one, so contacts see no conflict",
                              "mailseal export rotation new-profile.pem -o rotation.pem");
  rotation->add_option("successor", args.export_rotation.successor, "The new profile's certificates (its root)")
      ->required()
      ->type_name("FILE");
  rotation->add_option("-o,--output", args.export_rotation.output, "Output file (default: stdout)");
  rotation->callback([&] { action = [&](const Context& c) { return run_export_rotation(c, args.export_rotation); }; });
  auto* revocation = subcommand(*export_command, g, "revocation",
                                "Revoke this profile's root (it was lost or stolen): a CRL to publish",
                                "mailseal export revocation -o revocation.pem");
  revocation->add_option("-o,--output", args.export_revocation.output, "Output file (default: stdout)");
  revocation->callback(
      [&] { action = [&](const Context& c) { return run_export_revocation(c, args.export_revocation); }; });
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
  pkcs12->add_flag("--ask-for-cbc", args.export_pkcs12.ask_for_cbc,
                   "The keys go to a client without AES-GCM (Outlook, gpgsm): re-issue the encryption certificates "
                   "to ask senders for AES-CBC first");
  pkcs12->callback([&] { action = [&](const Context& c) { return run_export_pkcs12(c, args.export_pkcs12); }; });
  auto* mobileconfig =
      subcommand(*export_command, g, "mobileconfig", "Write an Apple configuration profile (iPhone, iPad, macOS Mail)",
                 "mailseal export mobileconfig -o alice.mobileconfig");
  mobileconfig->add_option("-o,--output", args.export_mobileconfig.output, "Output file")->required();
  mobileconfig->add_option("--password-file", args.export_mobileconfig.password_file,
                           "Password of the keys inside (default: a new random one, printed)");
  mobileconfig->add_flag("--include-password", args.export_mobileconfig.include_password,
                         "Put the password in the profile: no question at install, but the file is then a secret");
  mobileconfig->callback(
      [&] { action = [&](const Context& c) { return run_export_mobileconfig(c, args.export_mobileconfig); }; });

  auto* setup = subcommand(app, g, "setup", "Configure an existing mail client for this profile", "");
  setup->require_subcommand(1);
  auto* thunderbird = subcommand(*setup, g, "thunderbird",
                                 "Import the keys into a Thunderbird profile and select them for its accounts",
                                 "mailseal setup thunderbird --profile ~/.thunderbird/abcd1234.default-release");
  thunderbird->add_option("--profile", args.setup_thunderbird.profile, "The Thunderbird profile directory")
      ->required()
      ->type_name("DIR");
  thunderbird
      ->add_option("--database-password-file", args.setup_thunderbird.database_password_file,
                   "The primary password of Thunderbird's key database, if it has one")
      ->type_name("FILE");
  thunderbird->callback(
      [&] { action = [&](const Context& c) { return run_setup_thunderbird(c, args.setup_thunderbird); }; });
  auto* mutt = subcommand(*setup, g, "mutt", "Write key files for mutt/neomutt and print the muttrc lines",
                          "mailseal setup mutt --dir ~/.mutt/smime >> ~/.muttrc");
  mutt->add_option("--dir", args.setup_mutt.directory, "Where to write the key files (default HOME/.mutt/mailseal)")
      ->type_name("DIR");
  mutt->callback([&] { action = [&](const Context& c) { return run_setup_mutt(c, args.setup_mutt); }; });

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
  decrypt->add_flag("--no-learn", args.decrypt.no_learn, "Do not record the sender's key and history");
  decrypt->callback([&] { action = [&](const Context& c) { return run_decrypt(c, args.decrypt); }; });

  auto* verify = subcommand(app, g, "verify", "Check a message's signature (exit 0 only when it is valid)",
                            "mailseal verify signed.eml --json");
  verify->add_option("input", args.verify.input, "The message (default: stdin)")->type_name("IN");
  verify->add_option("-o,--output", args.verify.output, "Write the signed content there when the signature is valid");
  verify->add_flag("--no-learn", args.verify.no_learn, "Do not record the sender's key and history");
  verify
      ->add_option("--require-trust", args.verify.require_trust,
                   "Exit 1 unless trust in the signer is at least this level")
      ->check(CLI::IsMember({"full", "partial", "marginal", "none"}))
      ->type_name("LEVEL");
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
  auto* contact_pin = subcommand(*contact, g, "pin", "Record a fingerprint you compared with the person",
                                 "mailseal contact pin bob@example.org MB2G-QXQK-DBHN-5W4D-3RTB-NOUN-GD5G");
  contact_pin->add_option("address", args.contact_pin.first, "ADDRESS, or a strong address FINGERPRINT?ADDRESS")
      ->required()
      ->type_name("ADDRESS|STRONG-ADDRESS");
  contact_pin->add_option("fingerprint", args.contact_pin.second, "Any UDF presentation of at least 100 bits")
      ->type_name("FINGERPRINT");
  contact_pin->callback([&] { action = [&](const Context& c) { return run_contact_pin(c, args.contact_pin); }; });
  auto* contact_accept = subcommand(*contact, g, "accept", "Settle a conflict: this key is the one for the address",
                                    "mailseal contact accept bob@example.org MB2G-QXQK-DBHN-5W4D-3RTB-NOUN-GD5G");
  contact_accept->add_option("address", args.contact_accept.address, "The address")->required()->type_name("ADDRESS");
  contact_accept->add_option("fingerprint", args.contact_accept.fingerprint, "Fingerprint of the key to keep")
      ->required()
      ->type_name("FINGERPRINT");
  contact_accept->callback(
      [&] { action = [&](const Context& c) { return run_contact_accept(c, args.contact_accept); }; });

  auto* learn = subcommand(app, g, "learn", "Learn the sender's key and history from a signed message",
                           "mailseal learn signed.eml");
  learn->add_option("input", args.learn.input, "The message (default: stdin)")->type_name("IN");
  learn->callback([&] { action = [&](const Context& c) { return run_learn(c, args.learn); }; });

  auto* endorse = subcommand(app, g, "endorse", "Vouch for a contact's key with your profile root",
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
  endorse->add_flag("--local", args.endorse.local, "Keep the endorsement to yourself: never exported");
  endorse->callback([&] { action = [&](const Context& c) { return run_endorse(c, args.endorse); }; });

  auto* trust = subcommand(app, g, "trust", "Show how far a key is trusted for an address, and why",
                           "mailseal trust bob@example.org --dot | dot -Tsvg > bob.svg");
  trust->add_option("address", args.trust.address, "The address")->type_name("ADDRESS");
  trust->add_flag("--dot", args.trust.dot, "Write the paths as Graphviz");
  auto* anchor = subcommand(*trust, g, "anchor", "PKIX trust anchors (CA certificates)", "");
  anchor->require_subcommand(1);
  auto* anchor_add = subcommand(*anchor, g, "add", "Trust a CA's certificates for addresses it certifies",
                                "mailseal trust anchor add company-ca.pem --amount 60");
  anchor_add->add_option("file", args.trust_anchor_add.file, "The CA certificate(s)")->required();
  anchor_add->add_option("--amount", args.trust_anchor_add.amount, "How much the CA counts (default 60: partial)")
      ->check(CLI::Range(1, 120));
  anchor_add->callback(
      [&] { action = [&](const Context& c) { return run_trust_anchor_add(c, args.trust_anchor_add); }; });
  auto* anchor_list = subcommand(*anchor, g, "list", "List the trust anchors", "mailseal trust anchor list");
  anchor_list->callback([&] { action = [](const Context& c) { return run_trust_anchor_list(c); }; });
  trust->callback([&, trust] {
    if (trust->get_subcommands().empty()) {
      if (args.trust.address.empty())
        throw CLI::RequiredError("ADDRESS");
      action = [&](const Context& c) { return run_trust(c, args.trust); };
    }
  });

  auto service_option = [](CLI::App* command, std::string& target) {
    command->add_option("--service", target, "The key service (default: the one this profile remembers)")
        ->type_name("URL");
  };
  auto* publish = subcommand(app, g, "publish", "Publish the profile, its devices and its escrow to the key service",
                             "mailseal publish --service http://127.0.0.1:8080");
  service_option(publish, args.publish.service);
  publish->callback([&] { action = [&](const Context& c) { return run_publish(c, args.publish); }; });

  auto* lookup =
      subcommand(app, g, "lookup", "Find a correspondent's profile on the key service (discovery, not trust)",
                 "mailseal lookup bob@example.org");
  lookup->add_option("address", args.lookup.address, "The address")->required()->type_name("ADDRESS");
  service_option(lookup, args.lookup.service);
  lookup->callback([&] { action = [&](const Context& c) { return run_lookup(c, args.lookup); }; });

  auto* sync =
      subcommand(app, g, "sync", "Finish joining, receive new keys, accept devices invited by PIN", "mailseal sync");
  service_option(sync, args.sync.service);
  sync->callback([&] { action = [&](const Context& c) { return run_sync(c, args.sync); }; });

  auto* device = subcommand(app, g, "device", "This profile's devices: join, accept, invite, remove", "");
  device->require_subcommand(1);
  auto* join = subcommand(*device, g, "join", "On a new device: ask to join a profile",
                          "mailseal device join alice@example.com --service https://keys.example.com --name phone");
  join->add_option("address", args.device_join.address, "An address of the profile")->required()->type_name("ADDRESS");
  join->add_option("--service", args.device_join.service, "The key service the profile is published on")
      ->required()
      ->type_name("URL");
  join->add_option("--pin", args.device_join.pin, "A PIN from 'mailseal device invite' (no witness to compare)");
  join->add_option("--name", args.device_join.name, "This device's name (default: the host name)");
  join->callback([&] { action = [&](const Context& c) { return run_device_join(c, args.device_join); }; });
  auto* pending = subcommand(*device, g, "pending", "Requests to join, with the witness each device shows",
                             "mailseal device pending");
  service_option(pending, args.device_pending.service);
  pending->callback([&] { action = [&](const Context& c) { return run_device_pending(c, args.device_pending); }; });
  auto* accept = subcommand(*device, g, "accept", "Accept the device showing this witness (or with this request id)",
                            "mailseal device accept MB2G-QXQK-DBHN-5W4D-3RTB-NOUN --role read");
  accept->add_option("witness", args.device_accept.selector, "The witness, or the request id")
      ->required()
      ->type_name("WITNESS|ID");
  accept->add_option("--role", args.device_accept.role, "full (decrypts and signs, default) or read (decrypts only)")
      ->check(CLI::IsMember({"full", "read"}));
  service_option(accept, args.device_accept.service);
  accept->callback([&] { action = [&](const Context& c) { return run_device_accept(c, args.device_accept); }; });
  auto* reject = subcommand(*device, g, "reject", "Refuse a request to join", "mailseal device reject REQUEST_ID");
  reject->add_option("witness", args.device_reject.selector, "The witness, or the request id")
      ->required()
      ->type_name("WITNESS|ID");
  service_option(reject, args.device_reject.service);
  reject->callback([&] { action = [&](const Context& c) { return run_device_reject(c, args.device_reject); }; });
  auto* invite = subcommand(*device, g, "invite", "A one-time PIN that lets a device join without comparing",
                            "mailseal device invite --expires 10m");
  invite->add_option("--expires", args.device_invite.expires, "How long the PIN works: 90s, 10m (default), 2h, 1d")
      ->type_name("DURATION");
  invite->add_option("--role", args.device_invite.role, "full (default) or read")
      ->check(CLI::IsMember({"full", "read"}));
  service_option(invite, args.device_invite.service);
  invite->callback([&] { action = [&](const Context& c) { return run_device_invite(c, args.device_invite); }; });
  auto* list = subcommand(*device, g, "list", "The profile's devices", "mailseal device list --json");
  list->callback([&] { action = [](const Context& c) { return run_device_list(c); }; });
  auto* remove = subcommand(*device, g, "remove", "Remove a device: revoke it and rotate the keys",
                            "mailseal device remove MBJJ-CNCY-PCEM-G5LY-QKX7");
  remove->add_option("device", args.device_remove.device_id, "The device id ('mailseal device list')")
      ->required()
      ->type_name("DEVICE_ID");
  service_option(remove, args.device_remove.service);
  remove->callback([&] { action = [&](const Context& c) { return run_device_remove(c, args.device_remove); }; });

  auto* recovery = subcommand(app, g, "recovery", "Shares of the profile's root secret, and restoring from them", "");
  recovery->require_subcommand(1);
  auto* create = subcommand(*recovery, g, "create", "Split the root secret into shares (any QUORUM restore it)",
                            "mailseal recovery create --shares 3 --quorum 2");
  create->add_option("--shares", args.recovery_create.shares, "How many shares (default 3)")->check(CLI::Range(2, 16));
  create->add_option("--quorum", args.recovery_create.quorum, "How many restore the profile (default 2)")
      ->check(CLI::Range(2, 15));
  create->callback([&] { action = [&](const Context& c) { return run_recovery_create(c, args.recovery_create); }; });
  auto* restore = subcommand(*recovery, g, "restore", "Restore the profile on this device from shares",
                             "mailseal recovery restore SHARE1 SHARE2 --service https://keys.example.com");
  restore->add_option("shares", args.recovery_restore.shares, "The shares")->required()->type_name("SHARE");
  restore->add_option("--service", args.recovery_restore.service, "The key service that keeps the escrow")
      ->required()
      ->type_name("URL");
  restore->add_option("--name", args.recovery_restore.name, "This device's name");
  restore->callback([&] { action = [&](const Context& c) { return run_recovery_restore(c, args.recovery_restore); }; });

  auto* serve = subcommand(app, g, "serve", "Run a key service (until SIGINT or SIGTERM)",
                           "mailseal serve --listen 127.0.0.1:8080 --db service.db");
  serve->add_option("--listen", args.serve.listen, "HOST:PORT to listen on (port 0: any free port)")
      ->type_name("HOST:PORT");
  serve->add_option("--db", args.serve.database, "The service's SQLite database (default mailseal-service.db)")
      ->type_name("FILE");
  serve->add_option("--tls-cert", args.serve.tls_certificate, "Serve HTTPS with this certificate (PEM)")
      ->type_name("FILE");
  serve->add_option("--tls-key", args.serve.tls_key, "... and this private key (PEM)")->type_name("FILE");
  serve->callback([&] { action = [&](const Context& c) { return run_serve(c, args.serve); }; });

  auto* gateway = subcommand(app, g, "gateway", "Run the SMTP submission gateway (until SIGINT or SIGTERM)",
                             "mailseal gateway --listen 127.0.0.1:10587 --upstream smtp.example.com:587 "
                             "--upstream-tls starttls");
  gateway->add_option("--listen", args.gateway.listen, "HOST:PORT for mail clients (default 127.0.0.1:10587)")
      ->type_name("HOST:PORT");
  gateway->add_option("--upstream", args.gateway.upstream, "The submission server to relay to")
      ->required()
      ->type_name("HOST:PORT");
  gateway->add_option("--upstream-tls", args.gateway.upstream_tls, "none, starttls or tls (default none)")
      ->type_name("MODE");
  gateway->add_option("--upstream-ca", args.gateway.upstream_ca, "Trust these CA certificates for the upstream")
      ->type_name("FILE");
  gateway
      ->add_option("--policy", args.gateway.policy,
                   "opportunistic (sign, encrypt when possible) or required (refuse what cannot be encrypted)")
      ->type_name("POLICY");
  gateway->add_option("--tls-cert", args.gateway.tls_certificate, "Offer STARTTLS to clients with this certificate")
      ->type_name("FILE");
  gateway->add_option("--tls-key", args.gateway.tls_key, "... and this private key (PEM)")->type_name("FILE");
  gateway->add_option("--max-size", args.gateway.max_size, "Largest message accepted, in bytes (default 25 MiB)")
      ->type_name("BYTES");
  gateway->add_option("--timeout", args.gateway.timeout, "Seconds to wait for a client or the upstream (default 300)")
      ->type_name("SECONDS");
  gateway
      ->add_option("--refresh", args.gateway.refresh,
                   "Seconds before a recipient's keys are fetched again from the key service (default 3600)")
      ->type_name("SECONDS");
  gateway->callback([&] { action = [&](const Context& c) { return run_gateway(c, args.gateway); }; });

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
    print_error(escape_for_terminal(error.what()), escape_for_terminal(error.hint()));
    return exit_status_for(error);
  } catch (const std::exception& error) {
    print_error(escape_for_terminal(error.what()));
    return 1;
  }
}

}  // namespace mailseal::cli
