// init, status, fingerprint, export, import.

#include <chrono>

#include <fmt/format.h>

#include "cli/claims_view.h"
#include "cli/client_report.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/records_view.h"
#include "mailseal/clients/mail_clients.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/files.h"
#include "mailseal/devices/connect.h"
#include "mailseal/devices/key_service.h"
#include "mailseal/keyservice/client.h"
#include "mailseal/profile/profile.h"

namespace mailseal::cli {

namespace {

using nlohmann::json;

json strong_addresses_json(profile::Profile& profile) {
  json out = json::array();
  for (const auto& strong : profile.strong_addresses()) {
    out.push_back({{"address", strong.address.str()},
                   {"query_form", strong.to_query_form()},
                   {"strong_name", strong.to_strong_name_form()}});
  }
  return out;
}

std::string certificate_name(const profile::CertificateExpiry& expiry) {
  if (!expiry.address)
    return "root";
  return fmt::format("{} {}", expiry.address->str(), store::to_string(*expiry.purpose));
}

json expiry_json(profile::Profile& profile, TimePoint now) {
  json certificates = json::array();
  for (const auto& expiry : profile.certificate_expiry(now)) {
    json entry = {{"certificate", expiry.purpose ? store::to_string(*expiry.purpose) : "root"},
                  {"not_after", iso_time(expiry.not_after)},
                  {"renewal_due_at", iso_time(expiry.renewal_due_at)},
                  {"state", profile::to_string(expiry.state)}};
    if (expiry.address)
      entry["address"] = expiry.address->str();
    certificates.push_back(std::move(entry));
  }
  return {{"certificates", certificates},
          {"state", devices::to_string(devices::renewal_status(profile, now))},
          {"can_renew", profile.holds_root()}};
}

void print_expiry(profile::Profile& profile, TimePoint now) {
  bool root_due = false;
  for (const auto& expiry : profile.certificate_expiry(now)) {
    const std::string state = expiry.state == profile::RenewalState::Valid
                                  ? fmt::format("renewal from {}", iso_time(expiry.renewal_due_at).substr(0, 10))
                                  : std::string(profile::to_string(expiry.state));
    print_line(fmt::format("expires      {} {} ({})", certificate_name(expiry), iso_time(expiry.not_after).substr(0, 10),
                           state));
    root_due = root_due || (!expiry.address && expiry.state != profile::RenewalState::Valid);
  }
  switch (devices::renewal_status(profile, now)) {
    case devices::RenewalStatus::Unpublished:
      print_line("renewal      renewed certificates wait to be published: run 'mailseal sync'");
      break;
    case devices::RenewalStatus::Due:
      print_line("renewal      due: 'mailseal sync' (or the gateway) renews and publishes the certificates");
      break;
    case devices::RenewalStatus::WaitingForAdmin:
      print_line("renewal      due: an admin device renews the certificates; 'mailseal sync' then brings them here");
      break;
    case devices::RenewalStatus::NoneDue:
      break;
  }
  if (root_due)
    print_warning("the profile root is near its end; mail certificates cannot outlast it (docs/profile.md, 'Renewal')");
}

}  // namespace

int run_init(const Context& context, const InitArgs& args) {
  profile::InitOptions options;
  for (const auto& text : args.addresses) {
    options.addresses.push_back(parse_address_argument(text));
  }
  options.name = args.name;
  options.suite = store::parse_suite(args.suite);
  options.device_name = args.device_name;
  options.key_access = context.key_access();
  const auto home = context.home();
  profile::Profile profile = profile::Profile::create(home, options, context.now());
  profile::ProfileStatus status = profile.status();
  const auto& device = status.devices.front();
  std::optional<std::string> publish_failure;
  std::vector<keyservice::AddressClaim> claims;
  if (!args.service.empty()) {
    devices::FirstPublication first =
        devices::publish_new_profile(profile, args.service, context.key_access(), context.now());
    publish_failure = first.failure;
    if (first.published)
      claims = first.published->claims;
  }
  if (publish_failure) {
    print_warning(fmt::format("the profile was made, but not published: {}", escape_for_terminal(*publish_failure)));
    print_hint("publish it later with 'mailseal publish --service URL'");
  }
  if (context.json()) {
    json addresses = json::array();
    for (const auto& address : status.addresses)
      addresses.push_back(address.str());
    print_json({{"fingerprint", status.fingerprint.to_string()},
                {"addresses", addresses},
                {"strong_addresses", strong_addresses_json(profile)},
                {"device_id", device.device_id.str()},
                {"suite", store::to_string(status.suite)},
                {"keys_encrypted", status.keys_encrypted},
                {"published", !args.service.empty() && !publish_failure},
                {"claims", claims_json(claims)},
                {"home", home.string()}});
    return 0;
  }
  print_line(fmt::format("Created the profile of {}.", escape_for_terminal(status.name)));
  print_line(fmt::format("fingerprint     {}", status.fingerprint.to_string()));
  bool first = true;
  for (const auto& strong : profile.strong_addresses()) {
    print_line(fmt::format("{:<16}{}", first ? "strong address" : "", strong.to_query_form()));
    print_line(fmt::format("{:<16}{}", "", strong.to_strong_name_form()));
    first = false;
  }
  print_line(fmt::format("device          {} ({}, admin)", device.device_id.str(), escape_for_terminal(device.name)));
  print_line(fmt::format("store           {}", escape_for_terminal(home.string())));
  print_pending_claims(claims);
  if (!status.keys_encrypted) {
    print_hint(
        "the private keys are stored unencrypted (0600); give --passphrase-file FILE to 'mailseal init' to encrypt "
        "them");
  }
  return 0;
}

int run_status(const Context& context) {
  profile::Profile profile = profile::Profile::open(context.home());
  profile::ProfileStatus status = profile.status();
  if (context.json()) {
    json addresses = json::array();
    for (const auto& address : status.addresses)
      addresses.push_back(address.str());
    json devices = json::array();
    for (const auto& device : status.devices) {
      devices.push_back({{"device_id", device.device_id.str()},
                         {"name", device.name},
                         {"role", store::to_string(device.role)},
                         {"status", store::to_string(device.status)},
                         {"this_device", device.is_this_device}});
    }
    json keys = json::array();
    for (const auto& key : status.mail_keys) {
      keys.push_back({{"address", key.address.str()},
                      {"purpose", store::to_string(key.purpose)},
                      {"status", store::to_string(key.status)},
                      {"origin", store::to_string(key.origin)},
                      {"algorithm", key.certificate.public_key().description()},
                      {"fingerprint", key.certificate.fingerprint().to_string()},
                      {"not_after", iso_time(key.certificate.not_after())}});
    }
    print_json({{"fingerprint", status.fingerprint.to_string()},
                {"addresses", addresses},
                {"strong_addresses", strong_addresses_json(profile)},
                {"name", status.name},
                {"suite", store::to_string(status.suite)},
                {"devices", devices},
                {"mail_keys", keys},
                {"keys_encrypted", status.keys_encrypted},
                {"renewal", expiry_json(profile, context.now())},
                {"clients", describe_client_states(clients::client_states(profile, context.now()))},
                {"gateway_service", describe_gateway_service()},
                {"trust_sync", records_status_json(devices::records_status(profile.store()))}});
    return 0;
  }
  print_line(fmt::format("profile      {}", escape_for_terminal(status.name)));
  print_line(fmt::format("fingerprint  {}", status.fingerprint.to_string()));
  for (const auto& address : status.addresses) {
    print_line(fmt::format("address      {}", address.str()));
  }
  print_line(fmt::format("suite        {}", store::to_string(status.suite)));
  print_line(fmt::format("keys         {}", status.keys_encrypted ? "encrypted with a passphrase" : "not encrypted"));
  for (const auto& device : status.devices) {
    print_line(fmt::format("device       {} {} ({}{}{})", device.device_id.str(), escape_for_terminal(device.name),
                           store::to_string(device.role),
                           device.status == store::DeviceStatus::Removed ? ", removed" : "",
                           device.is_this_device ? ", this device" : ""));
  }
  for (const auto& key : status.mail_keys) {
    print_line(fmt::format("mail key     {} {} {} {}, {} until {}", key.address.str(), store::to_string(key.purpose),
                           key.certificate.public_key().description(), store::to_string(key.origin),
                           store::to_string(key.status), iso_time(key.certificate.not_after()).substr(0, 10)));
  }
  print_expiry(profile, context.now());
  print_client_states(clients::client_states(profile, context.now()));
  print_gateway_service();
  print_records_status(devices::records_status(profile.store()));
  return 0;
}

int run_fingerprint(const Context& context, const FingerprintArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  std::string fingerprint = profile.fingerprint().to_string(args.bits);
  if (context.json()) {
    print_json({{"fingerprint", fingerprint}, {"bits", args.bits}});
  } else {
    print_line(fingerprint);
  }
  return 0;
}

int run_export_certificates(const Context& context, const ExportCertificatesArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  std::string pem;
  for (const auto& certificate : profile.current_mail_certificates()) {
    pem += certificate.pem();
  }
  pem += profile.root_certificate().pem();
  write_output(args.output, as_bytes(pem), FileMode::Public);
  return 0;
}

int run_export_pkcs12(const Context& context, const ExportPkcs12Args& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  bool generated = args.password_file.empty();
  Passphrase password = generated ? Passphrase(crypto::random_password()) : read_secret_line(args.password_file);
  std::optional<EmailAddress> address;
  if (!args.address.empty()) {
    address = parse_address_argument(args.address);
  }
  std::optional<store::KeyPurpose> purpose;
  if (!args.purpose.empty()) {
    purpose = args.purpose == "signing" ? store::KeyPurpose::Signing : store::KeyPurpose::Encryption;
  }
  clients::Pkcs12ForClient exported = clients::export_pkcs12(
      profile,
      {address, purpose, args.legacy ? crypto::Pkcs12Protection::Legacy : crypto::Pkcs12Protection::Modern,
       args.ask_for_cbc},
      password, context.key_access(), context.now());
  const std::optional<clients::CbcReaders>& cbc = exported.cbc;
  write_file_atomic(args.output, exported.data, FileMode::Private);
  if (context.json()) {
    json document = {{"file", args.output}, {"protection", args.legacy ? "legacy" : "modern"}};
    if (cbc)
      document["cbc"] = describe_cbc(*cbc);
    if (generated) {
      document["password"] = std::string(password.view());
    }
    print_json(document);
  } else if (generated) {
    print_line(fmt::format("Wrote {}; its password is: {}", escape_for_terminal(args.output), password.view()));
  } else {
    print_line(fmt::format("Wrote {}.", escape_for_terminal(args.output)));
  }
  if (cbc && !context.json()) {
    report_cbc(*cbc, "that client");
  } else if (!cbc && !profile.advertises(smime::Capabilities::cbc_only())) {
    print_hint(
        "Outlook, gpgsm and Thunderbird read no AES-GCM, which your certificates ask senders for: if the file "
        "goes into one of them, export it with --ask-for-cbc");
  }
  return 0;
}

int run_import_pkcs12(const Context& context, const ImportPkcs12Args& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  Passphrase password = args.password_file.empty() ? Passphrase() : read_secret_line(args.password_file);
  Bytes data = read_file(args.file);
  auto imported = profile.import_pkcs12(data, password, context.key_access(), context.now());
  if (context.json()) {
    json keys = json::array();
    for (const auto& key : imported) {
      keys.push_back({{"address", key.address.str()},
                      {"purpose", store::to_string(key.purpose)},
                      {"subject", key.certificate.subject()},
                      {"issuer", key.certificate.issuer()},
                      {"fingerprint", key.certificate.fingerprint().to_string()},
                      {"chain_length", key.chain_length}});
    }
    print_json({{"imported", keys}});
    return 0;
  }
  for (const auto& key : imported) {
    print_line(
        fmt::format("Imported a {} key for {}: {} (issued by {}, {} chain certificate{})",
                    store::to_string(key.purpose), key.address.str(), escape_for_terminal(key.certificate.subject()),
                    escape_for_terminal(key.certificate.issuer()), key.chain_length, key.chain_length == 1 ? "" : "s"));
  }
  return 0;
}

}  // namespace mailseal::cli
