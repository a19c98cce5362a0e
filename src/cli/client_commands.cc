// export mobileconfig, setup thunderbird, setup mutt: keys into the mail
// clients people already have.

#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/client_report.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "mailseal/clients/mail_clients.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/files.h"
#include "mailseal/contacts/client_trust.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/gateway/credentials.h"
#include "mailseal/profile/profile.h"

namespace mailseal::cli {

using nlohmann::json;

json describe_client_roots(const std::vector<contacts::ClientRoot>& roots) {
  json out = json::array();
  for (const auto& root : roots) {
    json addresses = json::array();
    for (const auto& address : root.addresses)
      addresses.push_back(address.str());
    out.push_back({{"identity", root.identity.str()},
                   {"addresses", addresses},
                   {"level", trust::to_string(root.level)},
                   {"client_trust", contacts::to_string(root.trust)},
                   {"profile_root", root.profile_root},
                   {"refusal", root.refusal ? json(*root.refusal) : json(nullptr)}});
  }
  return out;
}

void report_client_roots(const std::vector<contacts::ClientRoot>& roots, std::string_view client) {
  for (const auto& root : roots) {
    std::string addresses;
    for (const auto& address : root.addresses)
      addresses += (addresses.empty() ? "" : ", ") + address.str();
    addresses = escape_for_terminal(addresses);
    if (!root.profile_root) {
      if (root.refusal)
        print_note(fmt::format("{} ({}): not made a {} trust anchor: {}", addresses, trust::to_string(root.level),
                               client, escape_for_terminal(*root.refusal)));
      continue;
    }
    switch (root.trust) {
      case contacts::ClientTrust::Anchor:
        print_line(fmt::format("{} trusts the profile root of {} for email ({}).", client, addresses,
                               trust::to_string(root.level)));
        break;
      case contacts::ClientTrust::Distrusted:
        print_line(fmt::format("{} distrusts a root for {} ({}).", client, addresses, trust::to_string(root.level)));
        break;
      case contacts::ClientTrust::Untrusted:
        if (root.refusal)
          print_note(fmt::format("{} ({}): not made a {} trust anchor: {}", addresses, trust::to_string(root.level),
                                 client, escape_for_terminal(*root.refusal)));
        break;
    }
  }
}

namespace {

std::string staleness(const clients::ClientState& state) {
  if (state.keys_current && state.trust_current)
    return "current";
  if (!state.keys_current && !state.trust_current)
    return "keys and trust changed";
  return state.keys_current ? "trust changed" : "keys changed";
}

}  // namespace

json describe_client_states(const std::vector<clients::ClientState>& states) {
  json out = json::array();
  for (const auto& state : states) {
    out.push_back({{"kind", state.setup.kind},
                   {"location", state.setup.location},
                   {"set_up_at", iso_time(state.setup.set_up_at)},
                   {"keys_current", state.keys_current},
                   {"trust_current", state.trust_current},
                   {"rerun", state.rerun}});
  }
  return out;
}

void print_client_states(const std::vector<clients::ClientState>& states) {
  for (const auto& state : states) {
    print_line(fmt::format("client       {} {} ({}{})", state.setup.kind, escape_for_terminal(state.setup.location),
                           staleness(state),
                           state.keys_current && state.trust_current ? "" : ": run 'mailseal sync'"));
  }
}

json describe_client_refreshes(const std::vector<clients::ClientRefresh>& refreshes) {
  json out = json::array();
  for (const auto& refresh : refreshes) {
    out.push_back({{"kind", refresh.state.setup.kind},
                   {"location", refresh.state.setup.location},
                   {"refreshed", refresh.refreshed},
                   {"problem", refresh.refreshed ? json(nullptr) : json(refresh.problem)},
                   {"rerun", refresh.state.rerun}});
  }
  return out;
}

void report_client_refreshes(const std::vector<clients::ClientRefresh>& refreshes) {
  for (const auto& refresh : refreshes) {
    const std::string where = escape_for_terminal(refresh.state.setup.location);
    if (refresh.refreshed) {
      print_note(fmt::format("refreshed the {} set-up in {} ({})", refresh.state.setup.kind, where,
                             staleness(refresh.state)));
      continue;
    }
    print_warning(fmt::format("the {} set-up in {} is out of date ({}) and was not refreshed: {}",
                              refresh.state.setup.kind, where, staleness(refresh.state),
                              escape_for_terminal(refresh.problem)));
    print_hint(fmt::format("then run 'mailseal sync' again, or: {}", escape_for_terminal(refresh.state.rerun)));
  }
}

json describe_cbc(const clients::CbcReaders& cbc) {
  return {{"reissued_certificates", cbc.reissued.size()},
          {"published", cbc.published},
          {"devices_updated", cbc.devices_updated},
          {"warnings", cbc.warnings}};
}

void report_cbc(const clients::CbcReaders& cbc, std::string_view client) {
  if (!cbc.reissued.empty()) {
    print_note(fmt::format(
        "{} reads no AES-GCM: {} encryption certificate(s) re-issued to ask senders for AES-CBC "
        "(same keys){}",
        client, cbc.reissued.size(),
        cbc.published ? fmt::format(", published, sent to {} other device(s)", cbc.devices_updated) : std::string()));
  }
  for (const auto& warning : cbc.warnings)
    print_warning(escape_for_terminal(warning));
}

int run_export_mobileconfig(const Context& context, const ExportMobileconfigArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  bool generated = args.password_file.empty();
  Passphrase password = generated ? Passphrase(crypto::random_password()) : read_secret_line(args.password_file);
  clients::AppleProfile apple = clients::apple_configuration_profile(profile, password, args.include_password,
                                                                     context.key_access(), context.now());
  write_file_atomic(args.output, as_bytes(apple.document), FileMode::Private);
  if (context.json()) {
    json answer = {
        {"file", args.output}, {"password_included", args.include_password}, {"cbc", describe_cbc(apple.cbc)}};
    if (generated)
      answer["password"] = std::string(password.view());
    print_json(answer);
    return 0;
  }
  print_line(fmt::format("Wrote {}.", escape_for_terminal(args.output)));
  report_cbc(apple.cbc, "Apple Mail");
  if (generated && !args.include_password)
    print_line(fmt::format("The device asks for this password when the profile is installed: {}", password.view()));
  print_note(
      "open the file on the iPhone, iPad or Mac (AirDrop, Files, or mail it to yourself encrypted), install "
      "it in Settings, then enable S/MIME for the account");
  return 0;
}

int run_setup_thunderbird(const Context& context, const SetupThunderbirdArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  std::optional<Passphrase> database_password;
  if (!args.database_password_file.empty())
    database_password = read_secret_line(args.database_password_file);
  clients::ThunderbirdSetup setup = clients::setup_thunderbird(
      profile, args.profile, context.key_access(), database_password ? &*database_password : nullptr, context.now());
  if (context.json()) {
    json certificates = json::array();
    for (const auto& certificate : setup.certificates) {
      certificates.push_back({{"address", certificate.address.str()},
                              {"purpose", store::to_string(certificate.purpose)},
                              {"nickname", certificate.nickname},
                              {"db_key", certificate.db_key}});
    }
    json identities = json::array();
    for (const auto& identity : setup.identities)
      identities.push_back({{"id", identity.id}, {"address", identity.address.str()}});
    print_json({{"profile", args.profile},
                {"certificates", certificates},
                {"identities", identities},
                {"roots", describe_client_roots(setup.roots)},
                {"cbc", describe_cbc(setup.cbc)}});
    return 0;
  }
  report_cbc(setup.cbc, "Thunderbird");
  print_line(fmt::format("Imported {} key(s) into {}.", setup.certificates.size(), escape_for_terminal(args.profile)));
  for (const auto& identity : setup.identities)
    print_line(fmt::format("Thunderbird identity {} ({}) now signs with S/MIME and can decrypt.", identity.id,
                           identity.address.str()));
  report_client_roots(setup.roots, "Thunderbird");
  return 0;
}

constexpr std::string_view kMuttCredential = "mutt";

int run_setup_mutt(const Context& context, const SetupMuttArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  std::filesystem::path directory = args.directory;
  if (directory.empty()) {
    const char* home = std::getenv("HOME");
    if (home == nullptr)
      throw Error(ErrorCode::Usage, "HOME is not set", "give --dir DIR");
    directory = std::filesystem::path(home) / ".mutt" / "mailseal";
  }
  // mutt submits through the gateway with a credential of its own; running
  // the set-up again replaces it (the old secret stops working).
  gateway::NewCredential credential =
      gateway::create_credential(profile, kMuttCredential, {}, mailseal::now(), /*replace=*/true);
  const clients::MuttSubmission submission{args.gateway, credential.info.name, credential.secret};
  clients::MuttSetup setup = clients::setup_mutt(profile, directory, &submission, context.now());
  if (context.json()) {
    print_json({{"directory", setup.directory.string()},
                {"configuration", setup.configuration},
                {"gateway", args.gateway},
                {"credential", credential.info.name},
                {"submission_file", setup.submission_file.string()}});
    return 0;
  }
  std::fputs(setup.configuration.c_str(), stdout);
  print_note(fmt::format("key files written to {}; append the lines above to your muttrc", setup.directory.string()));
  print_note(fmt::format("mutt submits through the gateway at {} with the credential '{}' (its secret is in {}, 0600)",
                         args.gateway, credential.info.name, setup.submission_file.string()));
  return 0;
}

}  // namespace mailseal::cli
