// What the gateway sends for one submitted message: which copies, signed or
// encrypted, to whom.

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "mailseal/agent/agent.h"
#include "mailseal/common/error.h"
#include "mailseal/common/text.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/gateway/gateway.h"
#include "mailseal/mime/mime.h"
#include "mailseal/smime/smime.h"

namespace mailseal::gateway {

namespace {

// A message the client protected itself is not wrapped again.
bool already_protected(const smime::OutgoingMessage& message) {
  auto value = message.headers().get("Content-Type");
  if (!value)
    return false;
  mime::ContentType type = mime::ContentType::parse(*value);
  return type.is("application", "pkcs7-mime") || type.is("application", "x-pkcs7-mime") ||
         type.is("multipart", "signed") || type.is("multipart", "encrypted");
}

smime::OutgoingMessage read_message(const std::string& text, std::unique_ptr<smime::MemorySource>& source) {
  source = std::make_unique<smime::MemorySource>(as_bytes(text));
  return smime::OutgoingMessage::read(*source);
}

std::set<EmailAddress> visible_recipients(const smime::OutgoingMessage& message) {
  std::set<EmailAddress> out;
  for (const auto& field : message.headers().fields()) {
    std::string name = ascii_lower(field.name);
    if (name == "to" || name == "cc") {
      for (auto& address : mime::parse_addresses(field.value()))
        out.insert(std::move(address));
    }
  }
  return out;
}

// The certificates due at `now` are renewed before the message is signed
// with them; trouble here is logged, never a reason to hold the message.
devices::RenewalReport renew_before_signing(profile::Profile& profile, const KeyAccess& key_access,
                                            keyservice::Client* service, TimePoint now) {
  try {
    return devices::renew_certificates(profile, service, key_access, now);
  } catch (const Error& error) {
    devices::RenewalReport failed;
    failed.publish_failure = fmt::format("the certificates were not renewed: {}", error.what());
    return failed;
  }
}

std::string renewal_note(const devices::RenewalReport& renewal) {
  if (renewal.renewed.empty() && !renewal.published)
    return "";
  std::string note = fmt::format("; {} certificate(s) renewed", renewal.renewed.size());
  if (renewal.published)
    note += fmt::format(", published and sent to {} device(s)", renewal.devices_updated);
  return note;
}

bool usable(const std::optional<contacts::TrustReport>& report) {
  return report && report->verdict.level != trust::Level::Conflict && report->verdict.level != trust::Level::Revoked;
}

// Certificates from the contacts and learned mail, else from the key service.
void fetch(profile::Profile& profile, keyservice::Client& service, const EmailAddress& address,
           LookupSchedule* schedule, TimePoint now) {
  try {
    agent::lookup(profile, service, address, now);
  } catch (const std::exception&) {
    // Not published, unreachable, or an answer that does not hold together:
    // what the store knows stands, and the policy decides about an address
    // without a key. Not when the gateway stopped the lookup: the message
    // waits (451) rather than go out on what was known before.
    if (service.cancelled()) {
      throw Error(ErrorCode::Io, fmt::format("the gateway is stopping (the lookup of {} was cancelled)", address.str()),
                  "the mail client keeps the message and sends it again");
    }
  }
  if (schedule != nullptr)
    schedule->fetched(address, now);
}

std::vector<std::string> recipients_without_keys(profile::Profile& profile, const std::vector<EmailAddress>& recipients,
                                                 keyservice::Client* service, LookupSchedule* schedule, TimePoint now) {
  std::vector<std::string> missing;
  for (const auto& address : recipients) {
    auto report = agent::address_trust(profile, address, now);
    if (service != nullptr && !profile.has_address(address) &&
        (!report || (schedule != nullptr && schedule->due(address, now)))) {
      fetch(profile, *service, address, schedule, now);
      report = agent::address_trust(profile, address, now);
    }
    if (!usable(report))
      missing.push_back(address.str());
  }
  return missing;
}

std::string encrypt_copy(profile::Profile& profile, const KeyAccess& key_access, const std::string& text,
                         const std::vector<EmailAddress>& to, TimePoint now) {
  std::unique_ptr<smime::MemorySource> source;
  smime::OutgoingMessage message = read_message(text, source);
  smime::StringSink out;
  agent::encrypt(profile, key_access, message, out, to, true, now);
  out.finish();
  return out.take();
}

std::string sign_copy(profile::Profile& profile, const KeyAccess& key_access, const std::string& text, TimePoint now) {
  std::unique_ptr<smime::MemorySource> source;
  smime::OutgoingMessage message = read_message(text, source);
  smime::StringSink out;
  agent::sign(profile, key_access, message, out, smime::SignatureForm::Detached, now);
  out.finish();
  return out.take();
}

// The bytes of the header section: nothing a reader could take two ways.
void check_header_bytes(std::string_view header) {
  for (std::size_t i = 0; i < header.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(header[i]);
    if (c == 0)
      throw Error(ErrorCode::Malformed, "the header section holds a NUL byte");
    if (c >= 128)
      throw Error(ErrorCode::Malformed,
                  "a header field holds 8-bit bytes (SMTPUTF8 is not offered; use RFC 2047 encoded words)");
    if (c == '\n' && (i == 0 || header[i - 1] != '\r'))
      throw Error(ErrorCode::Malformed, "the header section holds a bare LF");
    if (c == '\r' && (i + 1 >= header.size() || header[i + 1] != '\n'))
      throw Error(ErrorCode::Malformed, "the header section holds a bare CR");
  }
}

// The identity fields (From, Sender, Resent-From) of a header section with
// CRLF line endings: canonical names and unfolded values. A name is matched
// without regard to case or to blanks before the colon.
std::vector<std::pair<std::string, std::string>> identity_fields(std::string_view header) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t start = 0;
  while (start < header.size()) {
    std::size_t line_end = header.find("\r\n", start);
    std::string_view line =
        header.substr(start, line_end == std::string_view::npos ? std::string_view::npos : line_end - start);
    start = line_end == std::string_view::npos ? header.size() : line_end + 2;
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
      continue;  // a continuation of a field that is not one of these
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      continue;
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t'))
      name.remove_suffix(1);
    const char* canonical = mime::same_field_name(name, "From")          ? "From"
                            : mime::same_field_name(name, "Sender")      ? "Sender"
                            : mime::same_field_name(name, "Resent-From") ? "Resent-From"
                                                                         : nullptr;
    if (canonical == nullptr)
      continue;
    // The field's value with its continuation lines, unfolded.
    std::string value(line.substr(colon + 1));
    while (start < header.size() && (header[start] == ' ' || header[start] == '\t')) {
      std::size_t next = header.find("\r\n", start);
      value += header.substr(start, next == std::string_view::npos ? std::string_view::npos : next - start);
      start = next == std::string_view::npos ? header.size() : next + 2;
    }
    out.emplace_back(canonical, std::move(value));
  }
  return out;
}

EmailAddress strict_mailbox(std::string_view name, std::string_view value) {
  try {
    return mime::parse_mailbox(value);
  } catch (const Error& error) {
    throw Error(ErrorCode::Malformed,
                fmt::format("the {} field must be exactly one mailbox mailseal can read: {}", name, error.what()),
                "write it as 'Name <local@domain.example>' with no '@' or '<' in the name");
  }
}

}  // namespace

SenderFields check_header_section(std::string_view message) {
  // A NUL anywhere: readers disagree on where the text ends.
  if (message.find('\0') != std::string_view::npos)
    throw Error(ErrorCode::Malformed, "the message holds a NUL byte");
  std::size_t end = message.find("\r\n\r\n");
  std::string_view header = message.substr(0, end == std::string_view::npos ? message.size() : end + 2);
  check_header_bytes(header);
  std::vector<std::pair<std::string, std::string>> fields = identity_fields(header);
  for (const char* name : {"From", "Sender"}) {
    auto count = std::count_if(fields.begin(), fields.end(), [&](const auto& field) { return field.first == name; });
    if (count > 1)
      throw Error(
          ErrorCode::Malformed,
          fmt::format("the message has {} {} fields; at most one is allowed (RFC 5322 section 3.6)", count, name));
  }
  SenderFields out;
  for (const auto& [name, value] : fields) {
    EmailAddress address = strict_mailbox(name, value);
    if (name == "From")
      out.from = address;
    else
      out.others.push_back(address);
  }
  return out;
}

void check_sender(profile::Profile& profile, const CredentialInfo& submitter, const EmailAddress& address) {
  if (profile.has_address(address) && !submitter.allows(address))
    throw Error(ErrorCode::RejectedByPolicy,
                fmt::format("the credential '{}' may not send as {}", submitter.name, address.str()),
                fmt::format("'mailseal credential add NAME --address {}' makes one that may", address.str()));
}

void check_envelope_sender(profile::Profile& profile, const CredentialInfo& submitter, std::string_view reverse_path) {
  if (!reverse_path.empty())
    check_sender(profile, submitter, EmailAddress::parse(reverse_path));
}

DeliveryPlan plan_delivery(profile::Profile& profile, const KeyAccess& key_access, EncryptionPolicy policy,
                           const CredentialInfo& submitter, const Envelope& envelope, std::string message,
                           TimePoint now, keyservice::Client* service, LookupSchedule* schedule) {
  SenderFields senders = check_header_section(message);
  // A credential may not send as an address of the profile it was not given
  // (From, Sender, Resent-From, MAIL FROM), whether or not the gateway would
  // sign the message.
  check_envelope_sender(profile, submitter, envelope.reverse_path);
  if (senders.from)
    check_sender(profile, submitter, *senders.from);
  for (const auto& address : senders.others)
    check_sender(profile, submitter, address);
  std::unique_ptr<smime::MemorySource> source;
  smime::OutgoingMessage outgoing = read_message(message, source);
  DeliveryPlan plan;
  const bool required = policy == EncryptionPolicy::Required;

  auto pass_unchanged = [&](std::string why) {
    if (required)
      throw Error(ErrorCode::RejectedByPolicy, fmt::format("{}, and the policy requires encryption", why));
    plan.summary = why + "; relayed unchanged";
    plan.copies.push_back(Copy{envelope.recipients, std::move(message), false, false});
    return plan;
  };
  const std::optional<EmailAddress>& from = senders.from;
  if (already_protected(outgoing))
    return pass_unchanged("the message is already signed or encrypted by the client");
  if (!from)
    return pass_unchanged("the message has no single From address");
  if (!profile.has_address(*from))
    return pass_unchanged(fmt::format("{} is not an address of this profile", from->str()));

  plan.renewal = renew_before_signing(profile, key_access, service, now);

  // Date and Message-ID are fixed once, so that every copy is the same message.
  outgoing.complete_headers(now);
  outgoing.mutable_headers().remove("Bcc");
  std::string normalized = outgoing.mutable_headers().serialize() + "\r\n";
  {
    smime::StringSink body;
    smime::pump(outgoing.body(), body);
    normalized += body.take();
  }

  std::set<EmailAddress> visible = visible_recipients(outgoing);
  std::vector<EmailAddress> main_group;
  std::vector<EmailAddress> hidden;
  std::vector<EmailAddress> everyone;
  for (const auto& text : envelope.recipients) {
    EmailAddress address = EmailAddress::parse(text);
    if (std::find(everyone.begin(), everyone.end(), address) != everyone.end())
      continue;
    everyone.push_back(address);
    (visible.count(address) ? main_group : hidden).push_back(address);
  }

  plan.without_keys = recipients_without_keys(profile, everyone, service, schedule, now);
  if (plan.without_keys.empty()) {
    try {
      std::vector<Copy> copies;
      if (!main_group.empty()) {
        std::vector<std::string> to;
        for (const auto& address : main_group)
          to.push_back(address.str());
        copies.push_back(Copy{to, encrypt_copy(profile, key_access, normalized, main_group, now), true, true});
      }
      for (const auto& address : hidden)
        copies.push_back(
            Copy{{address.str()}, encrypt_copy(profile, key_access, normalized, {address}, now), true, true});
      plan.copies = std::move(copies);
      plan.summary =
          hidden.empty()
              ? fmt::format("signed and encrypted for {}",
                            everyone.size() == 1 ? everyone[0].str() : fmt::format("{} recipients", everyone.size()))
              : fmt::format("signed and encrypted; {} Bcc recipient(s) got a copy of their own", hidden.size());
      plan.summary += renewal_note(plan.renewal);
      return plan;
    } catch (const Error& error) {
      // A certificate that cannot encrypt after all (expired, a conflict that
      // appeared meanwhile): the policy decides, as for a missing key.
      if (error.code() != ErrorCode::NoMatchingKey && error.code() != ErrorCode::RejectedByPolicy)
        throw;
      plan.without_keys = {error.what()};
    }
  }
  if (required)
    throw Error(ErrorCode::RejectedByPolicy, fmt::format("no usable certificate for {}; the policy requires encryption",
                                                         fmt::join(plan.without_keys, ", ")));
  plan.copies.push_back(Copy{envelope.recipients, sign_copy(profile, key_access, normalized, now), true, false});
  plan.summary = fmt::format("signed, not encrypted: no usable certificate for {}", fmt::join(plan.without_keys, ", "));
  plan.summary += renewal_note(plan.renewal);
  return plan;
}

bool LookupSchedule::due(const EmailAddress& address, TimePoint now) const {
  std::lock_guard guard(lock_);
  auto found = fetched_.find(address);
  return found == fetched_.end() || now - found->second >= interval_ || now < found->second;
}

void LookupSchedule::fetched(const EmailAddress& address, TimePoint at) {
  std::lock_guard guard(lock_);
  fetched_[address] = at;
}

}  // namespace mailseal::gateway
