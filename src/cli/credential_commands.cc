// credential add, list, remove: who may submit through the gateway.

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/output.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/escape.h"
#include "mailseal/gateway/credentials.h"
#include "mailseal/profile/profile.h"

namespace mailseal::cli {

namespace {

nlohmann::json addresses_json(const gateway::CredentialInfo& info) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& address : info.addresses)
    out.push_back(address.str());
  return out;
}

std::string addresses_text(const gateway::CredentialInfo& info) {
  if (info.addresses.empty())
    return "all of the profile's addresses";
  std::string out;
  for (const auto& address : info.addresses)
    out += (out.empty() ? "" : ", ") + address.str();
  return out;
}

}  // namespace

int run_credential_add(const Context& context, const CredentialAddArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  std::vector<EmailAddress> addresses;
  for (const auto& text : args.addresses)
    addresses.push_back(EmailAddress::parse(text));
  gateway::NewCredential made =
      gateway::create_credential(profile, args.name, addresses, mailseal::now(), args.replace);
  if (context.json()) {
    print_json({{"name", made.info.name},
                {"secret", made.secret},
                {"addresses", addresses_json(made.info)},
                {"created_at", iso_time(made.info.created_at)}});
    return 0;
  }
  print_line(made.secret);
  print_note(
      fmt::format("gateway credential '{}' for {}: the secret above is shown only this once; give the mail "
                  "client user name '{}' and this secret as its password (SMTP AUTH)",
                  made.info.name, addresses_text(made.info), made.info.name));
  return 0;
}

int run_credential_list(const Context& context) {
  profile::Profile profile = profile::Profile::open(context.home());
  std::vector<gateway::CredentialInfo> all = gateway::list_credentials(profile);
  if (context.json()) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& info : all)
      list.push_back(
          {{"name", info.name}, {"addresses", addresses_json(info)}, {"created_at", iso_time(info.created_at)}});
    print_json({{"credentials", list}});
    return 0;
  }
  if (all.empty())
    print_note("no gateway credentials; 'mailseal credential add NAME' makes one");
  for (const auto& info : all)
    print_line(
        fmt::format("{}  {}  {}", escape_for_terminal(info.name), iso_time(info.created_at), addresses_text(info)));
  return 0;
}

int run_credential_remove(const Context& context, const CredentialRemoveArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  gateway::remove_credential(profile, args.name);
  if (context.json()) {
    print_json({{"removed", args.name}});
    return 0;
  }
  print_note(fmt::format("gateway credential '{}' removed; clients using it can no longer submit",
                         escape_for_terminal(args.name)));
  return 0;
}

}  // namespace mailseal::cli
