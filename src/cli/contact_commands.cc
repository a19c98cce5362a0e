#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/output.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/files.h"
#include "mailseal/contacts/evidence.h"
#include "mailseal/profile/profile.h"

namespace mailseal::cli {

namespace {

using nlohmann::json;

json contact_json(const contacts::Contact& contact) {
  const std::string until = iso_time(contact.certificate.not_after()).substr(0, 10);
  return {{"address", contact.address.str()},
          {"fingerprint", contact.certificate.fingerprint().to_string()},
          {"key_fingerprint", contact.certificate.key_fingerprint().to_string()},
          {"subject", contact.certificate.subject()},
          {"issuer", contact.certificate.issuer()},
          {"algorithm", contact.certificate.public_key().description()},
          {"not_after", until},
          {"can_encrypt", contact.certificate.can_encrypt_mail()},
          {"can_sign", contact.certificate.can_sign_mail()},
          {"capabilities", contact.capabilities.to_string()},
          {"source", contact.source}};
}

}  // namespace

int run_contact_import(const Context& context, const ContactImportArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  Bytes data = read_file(args.file);
  auto imported = contacts::import_file(profile.store(), data, smime::Policy::standard(context.now()));
  for (const auto& warning : imported.trust.warnings)
    print_warning(escape_for_terminal(warning));
  if (context.json()) {
    json list = json::array();
    for (const auto& entry : imported.contacts) {
      json item = contact_json(entry.contact);
      item["new"] = entry.is_new;
      list.push_back(item);
    }
    print_json({{"imported", list},
                {"endorsements", imported.trust.endorsements},
                {"revocations", imported.trust.revocations},
                {"already_known", imported.trust.already_known},
                {"warnings", imported.trust.warnings}});
    return 0;
  }
  for (const auto& entry : imported.contacts) {
    print_line(fmt::format("{} {} ({}, {})", entry.is_new ? "Added" : "Already known:", entry.contact.address.str(),
                           entry.contact.certificate.fingerprint().to_string(),
                           entry.contact.certificate.can_encrypt_mail() ? "encryption" : "signing only"));
  }
  if (imported.trust.endorsements > 0)
    print_line(fmt::format("Took {} endorsement(s) as evidence", imported.trust.endorsements));
  if (imported.trust.revocations > 0)
    print_line(fmt::format("Took {} revocation(s)", imported.trust.revocations));
  if (imported.trust.already_known > 0)
    print_line(fmt::format("{} endorsement(s) or revocation(s) were known already", imported.trust.already_known));
  return 0;
}

int run_contact_list(const Context& context) {
  profile::Profile profile = profile::Profile::open(context.home());
  auto list = contacts::list(profile.store());
  if (context.json()) {
    json items = json::array();
    for (const auto& contact : list)
      items.push_back(contact_json(contact));
    print_json({{"contacts", items}});
    return 0;
  }
  for (const auto& contact : list) {
    print_line(fmt::format("{:<32} {} {} {}", contact.address.str(), contact.certificate.fingerprint().to_string(),
                           contact.certificate.can_encrypt_mail() ? "encrypt" : "sign-only",
                           escape_for_terminal(contact.certificate.subject())));
  }
  return 0;
}

}  // namespace mailseal::cli
