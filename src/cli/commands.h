#pragma once
// The code that runs each command. Option definitions live in app.cc; these
// functions parse nothing from argv, call the library and format its answer.

#include <optional>
#include <string>
#include <vector>

#include "cli/context.h"
#include "mailseal/gateway/gateway.h"
#include "mailseal/service/server.h"

namespace mailseal::cli {

struct InitArgs {
  std::vector<std::string> addresses;
  std::string name;
  std::string suite = "compat";
  std::string device_name;
  std::string service;  // publish to this key service, and remember it
};
int run_init(const Context& context, const InitArgs& args);

int run_status(const Context& context);

struct FingerprintArgs {
  int bits = 140;
};
int run_fingerprint(const Context& context, const FingerprintArgs& args);

struct ExportCertificatesArgs {
  std::string output;
};
int run_export_certificates(const Context& context, const ExportCertificatesArgs& args);

struct ExportPkcs12Args {
  std::string output;
  std::string address;
  std::string password_file;
  std::string purpose;  // empty, "signing" or "encryption"
  bool legacy = false;
  bool ask_for_cbc = false;
};
int run_export_pkcs12(const Context& context, const ExportPkcs12Args& args);

struct ExportMobileconfigArgs {
  std::string output;
  std::string password_file;
  bool include_password = false;
};
int run_export_mobileconfig(const Context& context, const ExportMobileconfigArgs& args);

struct SetupThunderbirdArgs {
  std::string profile;
  std::string database_password_file;
};
int run_setup_thunderbird(const Context& context, const SetupThunderbirdArgs& args);

struct SetupMuttArgs {
  std::string directory;
  std::string gateway{gateway::kDefaultListen};  // HOST:PORT mutt submits to
};
int run_setup_mutt(const Context& context, const SetupMuttArgs& args);

// setup gateway: the gateway as a per-user service, and the clients pointed
// at it.
struct SetupGatewayArgs {
  gateway::GatewaySettings settings;
  std::string thunderbird;  // a Thunderbird profile directory
  std::string database_password_file;  // the primary password of its key database
  std::string mutt;         // mutt's key-file directory
  std::string credential;   // a credential for other clients
};
int run_setup_gateway(const Context& context, const SetupGatewayArgs& args);

struct ImportPkcs12Args {
  std::string file;
  std::string password_file;
};
int run_import_pkcs12(const Context& context, const ImportPkcs12Args& args);

struct SignArgs {
  std::string input = "-";
  std::string output;
  bool opaque = false;
};
int run_sign(const Context& context, const SignArgs& args);

struct EncryptArgs {
  std::string input = "-";
  std::string output;
  std::vector<std::string> to;
  bool no_sign = false;
  bool gcm = false;
  bool subject_in_clear = false;
};
int run_encrypt(const Context& context, const EncryptArgs& args);

struct DecryptArgs {
  std::string input = "-";
  std::string output;
  bool allow_bad_signature = false;
  bool allow_unauthenticated = false;
  bool no_learn = false;
};
int run_decrypt(const Context& context, const DecryptArgs& args);

struct VerifyArgs {
  std::string input = "-";
  std::string output;  // the verified message, written only when valid
  bool no_learn = false;
  std::string require_trust;  // a level name, or empty
};
int run_verify(const Context& context, const VerifyArgs& args);

struct ContactImportArgs {
  std::string file;
};
int run_contact_import(const Context& context, const ContactImportArgs& args);
int run_contact_list(const Context& context);

struct LearnArgs {
  std::string input = "-";
};
int run_learn(const Context& context, const LearnArgs& args);

struct ContactPinArgs {
  std::string first;   // ADDRESS or STRONG-ADDRESS
  std::string second;  // FINGERPRINT, or empty
};
int run_contact_pin(const Context& context, const ContactPinArgs& args);

struct ContactAcceptArgs {
  std::string address;
  std::string fingerprint;
};
int run_contact_accept(const Context& context, const ContactAcceptArgs& args);

struct ContactUnpinArgs {
  std::string address;
  std::string fingerprint;  // empty: every pin and acceptance of the address
};
int run_contact_unpin(const Context& context, const ContactUnpinArgs& args);

struct EndorseArgs {
  std::string address;
  int amount = 120;
  int depth = 0;
  std::vector<std::string> scope;
  bool local = false;
  bool withdraw = false;
};
int run_endorse(const Context& context, const EndorseArgs& args);

struct ExportEndorsementsArgs {
  std::string output;
};
int run_export_endorsements(const Context& context, const ExportEndorsementsArgs& args);

struct ExportRotationArgs {
  std::string successor;  // file with the new profile's root
  std::string output;
};
int run_export_rotation(const Context& context, const ExportRotationArgs& args);

struct ExportRevocationArgs {
  std::string output;
};
int run_export_revocation(const Context& context, const ExportRevocationArgs& args);

struct TrustArgs {
  std::string address;
  bool dot = false;
};
int run_trust(const Context& context, const TrustArgs& args);

struct TrustAnchorAddArgs {
  std::string file;
  int amount = 60;
};
int run_trust_anchor_add(const Context& context, const TrustAnchorAddArgs& args);
int run_trust_anchor_list(const Context& context);

struct TrustAnchorRemoveArgs {
  std::string fingerprint;
};
int run_trust_anchor_remove(const Context& context, const TrustAnchorRemoveArgs& args);

// The key service to use: --service URL, else the one the store remembers.
struct ServiceArgs {
  std::string service;
};
int run_publish(const Context& context, const ServiceArgs& args);

struct AddressConfirmArgs {
  std::string token;  // or the link
  std::string service;
};
int run_address_confirm(const Context& context, const AddressConfirmArgs& args);

struct AddressWithdrawArgs {
  std::string address;
  std::string service;
};
int run_address_withdraw(const Context& context, const AddressWithdrawArgs& args);

struct LookupArgs {
  std::string address;
  std::string service;
};
int run_lookup(const Context& context, const LookupArgs& args);

struct DeviceJoinArgs {
  std::string address;
  std::string service;
  std::string pin;
  std::string name;
  std::optional<int> wait;  // seconds to wait for the keys; default: kJoinWaitWithPin with --pin, else 0
};
int run_device_join(const Context& context, const DeviceJoinArgs& args);
int run_device_pending(const Context& context, const ServiceArgs& args);

struct DeviceDecisionArgs {
  std::string selector;  // witness or request id
  bool all = false;      // reject: every pending request
  std::string role = "full";
  std::string service;
};
int run_device_accept(const Context& context, const DeviceDecisionArgs& args);
int run_device_reject(const Context& context, const DeviceDecisionArgs& args);

struct DeviceInviteArgs {
  std::string expires = "10m";
  std::string role = "full";
  std::string service;
};
int run_device_invite(const Context& context, const DeviceInviteArgs& args);
int run_device_list(const Context& context);

struct DeviceRemoveArgs {
  std::string device_id;
  std::string service;
};
int run_device_remove(const Context& context, const DeviceRemoveArgs& args);
int run_sync(const Context& context, const ServiceArgs& args);

struct RecoveryCreateArgs {
  int shares = 3;
  int quorum = 2;
};
int run_recovery_create(const Context& context, const RecoveryCreateArgs& args);

struct RecoveryRestoreArgs {
  std::vector<std::string> shares;
  std::string service;
  std::string name;
  bool accept_old_escrow = false;
};
int run_recovery_restore(const Context& context, const RecoveryRestoreArgs& args);

// The key service's settings and their checks live in the service library.
using ServeArgs = service::ServeSettings;
int run_serve(const Context& context, const ServeArgs& args);

struct ServiceSmimeaArgs {
  std::string database = ServeArgs{}.database;
  std::string domain;
  long long ttl = 3600;
};
int run_service_smimea(const Context& context, const ServiceSmimeaArgs& args);

// The gateway's settings and their defaults live in the gateway library.
using GatewayArgs = gateway::GatewaySettings;
int run_gateway(const Context& context, const GatewayArgs& args);

struct CredentialAddArgs {
  std::string name;
  std::vector<std::string> addresses;  // empty: all of the profile's
  bool replace = false;
};
int run_credential_add(const Context& context, const CredentialAddArgs& args);
int run_credential_list(const Context& context);

// The resident process (mailseal/resident/resident.h): resident_command.cc.
int run_resident(const Context& context);
struct CredentialRemoveArgs {
  std::string name;
};
int run_credential_remove(const Context& context, const CredentialRemoveArgs& args);

struct UdfArgs {
  std::string content_type = "application/octet-stream";
  bool sha3 = false;
  int bits = 140;
  std::string input = "-";
  std::string parse;  // --parse TEXT: describe a UDF or strong address instead
  bool parse_given = false;
};
int run_udf(const Context& context, const UdfArgs& args);

}  // namespace mailseal::cli
