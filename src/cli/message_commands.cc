// sign, encrypt, decrypt, verify.

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/output.h"
#include "cli/renewal_view.h"
#include "cli/trust_view.h"
#include "mailseal/agent/agent.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/files.h"
#include "mailseal/store/local_store.h"

namespace mailseal::cli {

namespace {

using nlohmann::json;

std::unique_ptr<smime::ByteSource> open_input(const std::string& input) {
  if (input.empty() || input == "-")
    return std::make_unique<smime::FdSource>(0);
  return smime::FdSource::open(input);
}

std::unique_ptr<smime::OutputSink> open_output(const std::string& output) {
  if (output.empty() || output == "-")
    return smime::OutputSink::standard_output();
  return smime::OutputSink::file(output);
}

json signature_json(const smime::ReadResult& result) {
  if (!result.signature)
    return nullptr;
  const auto& report = *result.signature;
  json signer = nullptr;
  if (report.signer) {
    signer = {{"address", smime::signer_address(report, result.from)},
              {"fingerprint", report.signer->fingerprint().to_string()},
              {"key_fingerprint", report.signer->key_fingerprint().to_string()},
              {"subject", report.signer->subject()},
              {"issuer", report.signer->issuer()}};
  }
  return {{"valid", report.valid},
          {"signer", signer},
          {"from_matches", report.from_matches},
          {"signing_time", report.signing_time ? json(iso_time(*report.signing_time)) : json(nullptr)},
          {"digest", report.digest},
          {"form", smime::to_string(report.form)},
          {"layers", result.layers.size()},
          {"problems", report.problems}};
}

// Opens the profile if there is one; verifying needs none.
std::optional<profile::Profile> optional_profile(const Context& context) {
  auto home = context.home();
  if (!store::LocalStore::exists(home))
    return std::nullopt;
  return profile::Profile::open(home);
}

// What the reader's JSON documents share: identity, warnings, addressing.
void add_identity_json(json& document, const smime::ReadResult& result, const smime::Release& content) {
  document["identity_problems"] = result.identity_problems;
  document["warnings"] = result.warnings;
  document["addressed_to_reader"] = result.addressed_to_reader ? json(*result.addressed_to_reader) : json(nullptr);
  document["signed_part_only"] = result.signed_part_only;
  document["parts_unchecked"] = result.parts_unchecked;
  document["released"] = content.released();
  document["withheld"] = content.withheld() ? json(std::string(smime::to_string(*content.withheld()))) : json(nullptr);
}

void print_warnings(const smime::ReadResult& result) {
  for (const auto& warning : result.warnings)
    print_warning(escape_for_terminal(warning));
}

// The From fields disagree: nothing is released, whatever was asked for.
void refuse_identity(const smime::ReadResult& result) {
  for (const auto& problem : result.identity_problems)
    print_warning(escape_for_terminal(problem));
  // The error is escaped where it is printed (app.cc).
  throw Error(ErrorCode::BadSignature, fmt::format("whom this message is from is unknown: {}; nothing was written",
                                                   result.identity_problems.front()));
}

void print_signature_summary(const smime::ReadResult& result) {
  if (!result.signature)
    return;
  const auto& report = *result.signature;
  std::string who = smime::signer_address(report, result.from);
  if (report.valid) {
    print_note(fmt::format("good signature from {} ({}, {})", escape_for_terminal(who), report.digest,
                           report.signing_time ? iso_time(*report.signing_time) : "no signing time"));
  } else {
    print_warning(fmt::format("BAD signature{}", who.empty() ? "" : " from " + escape_for_terminal(who)));
    for (const auto& problem : report.problems)
      print_warning(escape_for_terminal(problem));
  }
}

// Signing notices certificates that are due: an admin device renews them
// here, without the network (the new certificate travels in the signed
// message; 'sync' publishes it); a renewal that fails leaves the current
// certificate in use.
void renew_when_due(const Context& context, profile::Profile& profile) {
  try {
    print_renewal(devices::renew_certificates(profile, nullptr, context.key_access(), context.now()));
  } catch (const Error& error) {
    print_warning(fmt::format("the certificates that are due were not renewed: {}", escape_for_terminal(error.what())));
  }
}

}  // namespace

int run_sign(const Context& context, const SignArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  renew_when_due(context, profile);
  auto input = open_input(args.input);
  smime::OutgoingMessage message = smime::OutgoingMessage::read(*input);
  auto output = open_output(args.output);
  agent::sign(profile, context.key_access(), message, *output,
              args.opaque ? smime::SignatureForm::Opaque : smime::SignatureForm::Detached, context.now());
  output->commit();
  return 0;
}

int run_encrypt(const Context& context, const EncryptArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  if (!args.no_sign)
    renew_when_due(context, profile);
  std::vector<EmailAddress> to;
  for (const auto& text : args.to) {
    to.push_back(parse_address_argument(text));
  }
  auto input = open_input(args.input);
  smime::OutgoingMessage message = smime::OutgoingMessage::read(*input);
  auto output = open_output(args.output);
  agent::EncryptSettings settings;
  settings.sign = !args.no_sign;
  settings.cipher = args.gcm ? smime::CipherPolicy::Authenticated : smime::CipherPolicy::EveryClient;
  settings.subject = args.subject_in_clear ? smime::OuterSubject::Clear : smime::OuterSubject::Obscured;
  agent::EncryptReport report = agent::encrypt(profile, context.key_access(), message, *output, to, settings,
                                               context.now());
  output->commit();
  if (report.unauthenticated()) {
    print_warning(
        "the message is not signed, so no reader can tell whether its AES-256-CBC encryption was altered; "
        "mailseal withholds such content unless the reader asks for it with 'decrypt --allow-unauthenticated'");
    print_hint("sign it (leave out --no-sign), or add --gcm for recipients who read with mailseal only");
  }
  for (const auto& address : report.unvouched()) {
    print_warning(
        fmt::format("nothing vouches that the certificate used for {} is theirs (trust: none)", address.str()));
    print_hint(fmt::format("compare fingerprints and 'mailseal contact pin {} FINGERPRINT'", address.str()));
  }
  if (context.json() && !args.output.empty()) {
    json recipients = json::array();
    for (const auto& address : report.recipients)
      recipients.push_back(address.str());
    json trust = json::object();
    for (const auto& recipient : report.trust) {
      trust[recipient.address.str()] = {{"level", trust::to_string(recipient.verdict.level)},
                                        {"amount", recipient.verdict.amount},
                                        {"work_factor_bits", recipient.verdict.work_factor_bits}};
    }
    print_json({{"recipients", recipients},
                {"trust", trust},
                {"content_cipher", smime::to_string(report.choice.cipher)},
                {"key_transport", smime::key_transport(report.choice)},
                {"signed", report.signed_message},
                {"output", args.output}});
  }
  return 0;
}

// Where the content of a large message waits until it is released: beside
// the output file, or in the temporary directory for standard output, a
// device or a FIFO.
std::filesystem::path decrypt_spool(const std::string& output) {
  if (!output.empty() && output != "-") {
    OutputTarget target = resolve_output_target(output);
    if (target.kind != OutputTarget::Kind::InPlace)
      return target.path;
  }
  return std::filesystem::temp_directory_path() / "mailseal-decrypt";
}

int run_decrypt(const Context& context, const DecryptArgs& args) {
  auto input = open_input(args.input);
  auto profile = optional_profile(context);
  if (!profile) {
    throw Error(ErrorCode::NotFound, fmt::format("no mailseal profile in {}", context.home().string()),
                "point to your profile with --home DIR");
  }
  agent::DecryptOptions options;
  options.bad_signature = args.allow_bad_signature ? smime::BadSignature::Release : smime::BadSignature::Withhold;
  options.unauthenticated =
      args.allow_unauthenticated ? smime::Unauthenticated::Release : smime::Unauthenticated::Withhold;
  options.learn = !args.no_learn;
  agent::Decrypted decrypted =
      agent::decrypt(*profile, context.key_access(), *input, decrypt_spool(args.output), options, context.now());
  const smime::ReadResult& result = decrypted.read;
  const auto& sender = decrypted.sender;
  const bool bad_signature = result.has_bad_signature();
  const bool released = decrypted.content.released();
  const int status = !released || bad_signature ? 1 : 0;
  // With --json, content goes only to a file named with -o.
  const bool write = released && (!args.output.empty() || !context.json());
  if (write) {
    auto output = open_output(args.output);
    decrypted.content.move_to(*output);
    output->commit();
  }
  if (context.json()) {
    json document = {{"decrypted", true},
                     {"content_cipher", result.content_cipher},
                     {"authenticated", decrypted.authenticated},
                     {"signature", signature_json(result)},
                     {"trust", sender ? trust_summary_json(sender->report) : json(nullptr)},
                     {"notes", result.notes},
                     {"output", write && !args.output.empty() ? json(args.output) : json(nullptr)}};
    add_identity_json(document, result, decrypted.content);
    print_json(document);
    return status;
  }
  if (decrypted.content.withheld() == smime::Withheld::IdentityMismatch)
    refuse_identity(result);
  if (bad_signature) {
    print_signature_summary(result);
    print_warnings(result);
    if (!released) {
      throw Error(ErrorCode::BadSignature,
                  "the message decrypted, but its signature is not valid, so it may have been altered; nothing was "
                  "written",
                  "to read it anyway, give --allow-bad-signature");
    }
    return 1;
  }
  if (decrypted.content.withheld() == smime::Withheld::Unauthenticated) {
    throw Error(ErrorCode::RejectedByPolicy,
                fmt::format("the message is encrypted without authentication ({}) and not signed, so it may have been "
                            "altered in transit (blocks of ciphertext can be changed or added undetected: EFAIL); "
                            "nothing was written",
                            result.content_cipher),
                "to read it anyway, give --allow-unauthenticated");
  }
  print_note(fmt::format("decrypted ({}{})", result.content_cipher,
                         result.authenticated_encryption ? ", authenticated encryption" : ""));
  print_signature_summary(result);
  if (sender)
    print_trust_summary(sender->report);
  if (!decrypted.authenticated) {
    print_warning(
        "the message is neither signed nor encrypted with authentication: it could have been altered in transit");
  } else if (!result.signature) {
    print_note("the message is not signed inside the encryption");
  }
  print_warnings(result);
  for (const auto& note : result.notes)
    print_note(escape_for_terminal(note));
  return status;
}

int run_verify(const Context& context, const VerifyArgs& args) {
  auto input = open_input(args.input);
  auto profile = optional_profile(context);
  agent::VerifyOptions options;
  options.learn = !args.no_learn;
  if (!args.require_trust.empty())
    options.required_trust = trust::parse_level(args.require_trust);
  agent::Verified verified = agent::verify(profile ? &*profile : nullptr, context.key_access(), *input,
                                          decrypt_spool(args.output), options, context.now());
  const smime::ReadResult& result = verified.read;
  const auto& sender = verified.sender;
  // Written only when released: a valid signature, by a signer trusted as required.
  if (verified.content.released() && !args.output.empty()) {
    auto output = open_output(args.output);
    verified.content.move_to(*output);
    output->commit();
  }
  const int status = verified.content.released() ? 0 : 1;
  if (context.json()) {
    json document = result.signature
                        ? signature_json(result)
                        : json{{"valid", false},        {"signer", nullptr},
                               {"from_matches", false}, {"signing_time", nullptr},
                               {"digest", nullptr},     {"problems", json::array({"the message is not signed"})}};
    document["signed"] = result.signature.has_value();
    document["encrypted"] = result.encrypted;
    document["notes"] = result.notes;
    document["trust"] = sender ? trust_summary_json(sender->report) : json(nullptr);
    add_identity_json(document, result, verified.content);
    print_json(document);
    return status;
  }
  if (!result.signature) {
    for (const auto& note : result.notes)
      print_note(escape_for_terminal(note));
    if (result.signed_part_only || result.parts_unchecked) {
      throw Error(ErrorCode::BadSignature,
                  fmt::format("the message is not signed as a whole: a part of it {}, but a signature counts only "
                              "when it covers the whole message, so nothing here is vouched for",
                              result.signed_part_only ? "is signed" : "may be signed"));
    }
    throw Error(ErrorCode::BadSignature, "the message is not signed");
  }
  print_signature_summary(result);
  if (sender)
    print_trust_summary(sender->report);
  print_warnings(result);
  for (const auto& note : result.notes)
    print_note(escape_for_terminal(note));
  if (verified.content.withheld() == smime::Withheld::TrustBelowRequired) {
    print_error(fmt::format("the signature is good, but trust in the signer is below {}", args.require_trust),
                sender ? fmt::format("'mailseal trust {}' shows the evidence", sender->address.str()) : "");
  }
  return status;
}

}  // namespace mailseal::cli
