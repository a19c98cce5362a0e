// learn, contact pin/accept/unpin, endorse (and --withdraw), export endorsements/rotation/revocation,
// trust, trust anchor.

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/output.h"
#include "cli/records_view.h"
#include "cli/trust_view.h"
#include "mailseal/agent/agent.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/files.h"
#include "mailseal/profile/profile.h"
#include "mailseal/smime/smime.h"
#include "mailseal/store/trust_records.h"

namespace mailseal::cli {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxCertificateFile = 16 * 1024 * 1024;

IdentityNames names_for(profile::Profile& profile) {
  return IdentityNames(profile.store(), agent::evaluator(profile).root);
}

// After a change of evidence: where the address stands now, if a certificate
// is known for it.
void show_standing(const Context& context, profile::Profile& profile, const EmailAddress& address, json document) {
  auto report = agent::address_trust(profile, address, context.now());
  if (context.json()) {
    document["trust"] = report ? trust_summary_json(*report) : json(nullptr);
    print_json(document);
    return;
  }
  if (report) {
    print_trust_summary(*report);
  } else {
    print_note(fmt::format("no certificate is known for {} yet; this applies when one arrives", address.str()));
  }
}

}  // namespace

int run_learn(const Context& context, const LearnArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  InputData input = InputData::read(args.input, smime::kMaxMessageSize);
  agent::SenderTrust sender = agent::learn_sender(profile, context.key_access(), input.bytes(), context.now());
  if (context.json()) {
    print_json(
        {{"address", sender.address.str()}, {"learned", sender.learned}, {"trust", trust_summary_json(sender.report)}});
    return 0;
  }
  if (sender.learned) {
    print_note(fmt::format("learned the key of {} ({})", sender.address.str(),
                           short_fingerprint(sender.report.identity.identity)));
  } else {
    print_note("this message was learned before; nothing changed");
  }
  print_trust_summary(sender.report);
  return 0;
}

int run_contact_pin(const Context& context, const ContactPinArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  contacts::PinTarget target = contacts::pin_target(args.first, args.second);
  const EmailAddress& address = target.address;
  const std::string& fingerprint = target.fingerprint;
  contacts::pin(profile.store(), address, fingerprint, context.now());
  if (!context.json())
    print_note(fmt::format("pinned {} to {}", address.str(), escape_for_terminal(fingerprint)));
  show_standing(context, profile, address, {{"pinned", address.str()}});
  return 0;
}

int run_contact_accept(const Context& context, const ContactAcceptArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  EmailAddress address = parse_address_argument(args.address);
  contacts::accept(profile.store(), address, args.fingerprint, context.now());
  if (!context.json())
    print_note(fmt::format("accepted {} for {}", escape_for_terminal(args.fingerprint), address.str()));
  show_standing(context, profile, address, {{"accepted", address.str()}});
  return 0;
}

int run_contact_unpin(const Context& context, const ContactUnpinArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  EmailAddress address = parse_address_argument(args.address);
  const int removed = contacts::unpin(profile.store(), address, args.fingerprint);
  if (!context.json()) {
    print_note(fmt::format("took back {} pin(s) or acceptance(s) of {}{}", removed, address.str(),
                           args.fingerprint.empty() ? "" : " naming " + escape_for_terminal(args.fingerprint)));
  }
  show_standing(context, profile, address, {{"unpinned", address.str()}, {"removed", removed}});
  return 0;
}

namespace {

int withdraw_endorsement(const Context& context, profile::Profile& profile, const EmailAddress& address) {
  const int removed = contacts::withdraw_endorsement(profile.store(), agent::evaluator(profile), address);
  if (!context.json())
    print_note(fmt::format("withdrew {} endorsement(s) of {}", removed, address.str()));
  show_standing(context, profile, address, {{"withdrawn", address.str()}, {"removed", removed}});
  return 0;
}

}  // namespace

int run_endorse(const Context& context, const EndorseArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  EmailAddress address = parse_address_argument(args.address);
  if (args.withdraw)
    return withdraw_endorsement(context, profile, address);
  contacts::EndorseOptions options{args.amount, args.depth, args.scope, args.local};
  crypto::Certificate endorsement =
      contacts::endorse(profile.store(), agent::evaluator(profile), profile.root_key(context.key_access()),
                        profile.root_certificate(), address, options, context.now());
  if (!context.json()) {
    print_note(fmt::format("endorsed {} ({}) with amount {}, depth {}{}{}", address.str(),
                           endorsement.key_fingerprint().to_string(), args.amount, args.depth,
                           args.scope.empty() ? "" : ", scope " + fmt::format("{}", fmt::join(args.scope, " ")),
                           args.local ? ", local (never exported)" : ""));
  }
  show_standing(context, profile, address,
                {{"endorsed", address.str()},
                 {"endorsement", endorsement.fingerprint().to_string()},
                 {"amount", args.amount},
                 {"depth", args.depth},
                 {"scope", args.scope},
                 {"exportable", !args.local}});
  return 0;
}

int run_export_endorsements(const Context& context, const ExportEndorsementsArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  std::string pem = contacts::export_endorsements(profile.store(), profile.root_certificate());
  write_output(args.output, as_bytes(pem), FileMode::Public);
  return 0;
}

int run_export_rotation(const Context& context, const ExportRotationArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  crypto::Certificate successor = profile::rotation_successor(read_file(args.successor, kMaxCertificateFile));
  crypto::Certificate statement = profile.rotation_statement(successor, context.key_access(), context.now());
  std::string pem = profile.root_certificate().pem() + statement.pem();
  write_output(args.output, as_bytes(pem), FileMode::Public);
  return 0;
}

int run_export_revocation(const Context& context, const ExportRevocationArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  crypto::RevocationList revocation = profile.root_revocation(context.key_access(), context.now());
  std::string pem = profile.root_certificate().pem() + revocation.pem();
  write_output(args.output, as_bytes(pem), FileMode::Public);
  print_warning("once published, this revocation cannot be taken back: nobody will trust this profile again");
  return 0;
}

int run_trust(const Context& context, const TrustArgs& args) {
  if (args.dot && context.json()) {
    throw Error(ErrorCode::Usage, "give --json or --dot, not both");
  }
  profile::Profile profile = profile::Profile::open(context.home());
  EmailAddress address = parse_address_argument(args.address);
  auto report = agent::address_trust(profile, address, context.now());
  if (!report) {
    throw Error(ErrorCode::NotFound, fmt::format("no certificate is known for {}", address.str()),
                "import one with 'mailseal contact import FILE', or learn it from a signed message");
  }
  IdentityNames names = names_for(profile);
  // Decisions of two devices that did not know each other's (trust records).
  std::vector<devices::RecordsConflict> decided_differently;
  for (auto& conflict : devices::records_status(profile.store()).conflicts) {
    if (conflict.address == address)
      decided_differently.push_back(std::move(conflict));
  }
  if (context.json()) {
    json document = trust_json(*report, names);
    json sync_conflicts = json::array();
    for (const auto& conflict : decided_differently) {
      sync_conflicts.push_back({{"device_a", conflict.device_a},
                                {"decision_a", conflict.decision_a},
                                {"device_b", conflict.device_b},
                                {"decision_b", conflict.decision_b}});
    }
    document["decided_differently"] = sync_conflicts;
    print_json(document);
  } else if (args.dot) {
    print_line(trust::to_dot(report->verdict, report->facts, agent::evaluator(profile).root,
                             [&](const Identity& identity) { return names(identity); }));
  } else {
    print_trust(*report, names);
    for (const auto& conflict : decided_differently)
      print_line(fmt::format("  conflict     {}", describe_conflict(conflict)));
    if (report->verdict.level == trust::Level::Conflict) {
      print_hint(
          fmt::format("compare fingerprints with them, then 'mailseal contact accept {} FINGERPRINT' or "
                      "'mailseal contact pin {} FINGERPRINT'",
                      address.str(), address.str()));
    }
  }
  return 0;
}

int run_trust_anchor_add(const Context& context, const TrustAnchorAddArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  std::vector<crypto::Certificate> certificates =
      crypto::Certificate::read_all(read_file(args.file, kMaxCertificateFile));
  json added = json::array();
  for (const auto& certificate : certificates) {
    contacts::add_anchor(profile.store(), certificate, args.amount, context.now());
    added.push_back({{"subject", certificate.subject()},
                     {"fingerprint", certificate.fingerprint().to_string()},
                     {"amount", args.amount}});
    if (!context.json()) {
      print_note(fmt::format("trust anchor {} ({}), amount {}", escape_for_terminal(certificate.subject()),
                             certificate.fingerprint().to_string(), args.amount));
    }
  }
  if (context.json())
    print_json({{"added", added}});
  return 0;
}

int run_trust_anchor_remove(const Context& context, const TrustAnchorRemoveArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  contacts::remove_anchor(profile.store(), args.fingerprint);
  if (context.json()) {
    print_json({{"removed", args.fingerprint}});
  } else {
    print_note(fmt::format("no longer a trust anchor: {}", escape_for_terminal(args.fingerprint)));
  }
  return 0;
}

int run_trust_anchor_list(const Context& context) {
  profile::Profile profile = profile::Profile::open(context.home());
  json anchors = json::array();
  for (const auto& record : store::TrustRecords(profile.store()).anchors()) {
    crypto::Certificate certificate = crypto::Certificate::from_der(record.certificate);
    anchors.push_back({{"subject", certificate.subject()},
                       {"fingerprint", certificate.fingerprint().to_string()},
                       {"amount", record.amount}});
    if (!context.json()) {
      print_line(fmt::format("{:>4}  {}  {}", record.amount, certificate.fingerprint().to_string(),
                             escape_for_terminal(certificate.subject())));
    }
  }
  if (context.json())
    print_json({{"anchors", anchors}});
  return 0;
}

}  // namespace mailseal::cli
