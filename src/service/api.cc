#include "mailseal/service/api.h"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "mailseal/common/email_address.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/endorsement.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/keyservice/documents.h"
#include "mailseal/keyservice/protocol.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/mime/mime.h"
#include "mailseal/udf/strong_address.h"
#include "mailseal/udf/udf.h"
#include "service/internal/buckets.h"
#include "service/internal/lookup_listener.h"
#include "service/internal/lookup_memo.h"
#include "service/internal/pages.h"
#include "service/storage.h"

namespace mailseal::service {

namespace {

using namespace keyservice;

// A document this service wrote into its database: one that no longer
// reads is the service's fault (500), not the request's.
template <typename Document>
Document stored(const std::string& text) {
  Parsed<Document> parsed = Document::parse(text);
  if (const Fault* fault = std::get_if<Fault>(&parsed))
    throw Error(ErrorCode::Internal, fmt::format("a document the service stored: {}", fault->describe()));
  return std::get<Document>(std::move(parsed));
}

// A refusal: an HTTP status, a stable code for programs, a message for people.
struct Refusal {
  int status;
  std::string code;
  std::string message;
  std::optional<std::chrono::seconds> retry_after = std::nullopt;  // 429: when to try again
};

[[noreturn]] void refuse(int status, std::string code, std::string message) {
  throw Refusal{status, std::move(code), std::move(message)};
}

HttpResponse respond(int status, std::string document) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(document);
  return response;
}

HttpResponse error_response(const Refusal& refusal) {
  HttpResponse response = respond(refusal.status, ErrorDocument{refusal.code, refusal.message}.to_json());
  if (refusal.retry_after)
    response.headers.emplace_back("Retry-After", std::to_string(refusal.retry_after->count()));
  return response;
}

// Percent-decoding of one path segment; anything odd is refused.
std::string decode_segment(std::string_view segment) {
  std::string out;
  for (std::size_t i = 0; i < segment.size(); ++i) {
    char c = segment[i];
    if (c == '%') {
      if (i + 2 >= segment.size())
        refuse(400, "bad_path", "a truncated percent-escape in the path");
      auto hex = segment.substr(i + 1, 2);
      if (hex.size() != 2 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos)
        refuse(400, "bad_path", "a malformed percent-escape in the path");
      out.push_back(static_cast<char>(std::stoi(std::string(hex), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  if (out.empty() || out.size() > 256 || out.find_first_of(std::string_view("/\0", 2)) != std::string::npos)
    refuse(400, "bad_path", "a path segment is empty, too long or holds a slash or NUL");
  for (unsigned char c : out) {
    if (c < 0x20 || c == 0x7f)
      refuse(400, "bad_path", "control characters in the path");
  }
  return out;
}

std::vector<std::string> path_segments(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path.empty() || path.front() != '/' || path.size() > 2048)
    refuse(400, "bad_path", "the request target must be an absolute path");
  std::vector<std::string> out;
  path.remove_prefix(1);
  while (!path.empty()) {
    auto slash = path.find('/');
    out.push_back(decode_segment(path.substr(0, slash)));
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

// The refusal code for each way a body can fail strict reading.
std::string refusal_code(FaultKind kind) {
  switch (kind) {
    case FaultKind::NotJson:
      return "bad_json";
    case FaultKind::MissingField:
      return "missing_field";
    case FaultKind::BadField:
      return "bad_field";
    case FaultKind::BadCertificate:
      return "bad_certificate";
  }
  return "bad_request";
}

RequestState state_of(const JoinRequestRecord& record) {
  if (record.status == to_string(RequestState::Accepted))
    return RequestState::Accepted;
  if (record.status == to_string(RequestState::Rejected))
    return RequestState::Rejected;
  return RequestState::Pending;
}

// A challenge token is kept only as this digest, so a copy of the database
// confirms nothing.
constexpr std::string_view kTokenDigestType = "application/mailseal-verification-token";
constexpr std::size_t kTokenBytes = keyservice::kVerificationTokenDigits / 2;

std::string token_hash(std::string_view token) {
  return to_hex(udf::typed_content_digest(udf::DigestAlgorithm::Sha2_512, kTokenDigestType, as_bytes(token)));
}

std::string domain_of(std::string_view address) {
  return std::string(address.substr(address.rfind('@') + 1));
}

// The mail that proves the publisher receives mail at the address: the link
// (a page whose button confirms) and the same token for a signed
// confirmation. 7-bit text, CRLF; the address is a checked EmailAddress (no
// line breaks), the rest is ours.
OutgoingMail challenge_mail(const ServiceSettings& settings, const Claim& claim, std::string_view token,
                            const std::optional<Claim>& served_for_another, TimePoint now) {
  std::string base = settings.public_url;
  while (base.ends_with('/'))
    base.pop_back();
  const std::string lines[] = {
      fmt::format("From: mailseal key service <{}>", settings.mail_from),
      fmt::format("To: <{}>", claim.address),
      "Subject: Confirm your address for the mailseal key service",
      fmt::format("Date: {}", mime::format_date(now)),
      fmt::format("Message-ID: <{}@{}>", to_hex(crypto::random_bytes(16)), domain_of(settings.mail_from)),
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=us-ascii",
      "Content-Transfer-Encoding: 7bit",
      "Auto-Submitted: auto-generated",
      "",
      fmt::format("Someone published a mailseal profile for {} to the key service", claim.address),
      fmt::format("at {}. Its fingerprint:", base),
      "",
      fmt::format("    {}", claim.account.str()),
      "",
      "If that was you, open this link and press the button on the page:",
      "",
      fmt::format("    {}{}{}", base, keyservice::kVerifyPath, token),
      "",
      "or run this on the device that published the profile:",
      "",
      fmt::format("    mailseal address confirm {}", token),
      "",
      fmt::format("The link works until {}, once.", mime::format_date(claim.token_expires_at)),
      "",
      "If it was not you, ignore this mail: the key service does not hand out",
      "that profile for your address, and the claim expires by itself.",
  };
  std::string message;
  for (const auto& line : lines)
    message += line + "\r\n";
  if (served_for_another) {
    message += fmt::format(
        "\r\nCareful: the key service already hands out another profile for {},\r\n"
        "confirmed from this mailbox before:\r\n\r\n    {}\r\n\r\n"
        "The link cannot replace it. Only if you made the new profile yourself,\r\n"
        "run `mailseal address confirm` on one of its devices.\r\n",
        claim.address, served_for_another->account.str());
  }
  return OutgoingMail{settings.mail_from, claim.address, std::move(message)};
}

}  // namespace

// What a lookup answers (the profile as published with its served
// addresses, when it was updated, whether the address is verified),
// memoized by the profile's version (storage.h, ProfileVersion). Rendering
// reads the stored document with PublishedProfile::parse, which decodes
// every certificate in it with OpenSSL: four fifths of a lookup's time
// (bench/README.md). Each lookup still reads the database, in one
// statement: the claims to the address with each claimant's generation,
// which every change to the profile's document or claims increments in the
// same transaction; an entry answers only for the version it was rendered
// from, so processes sharing one database never answer from a stale copy.
// Shared by the requests served at once (PostgreSQL serves several): the
// answer is copied out under the lock, and rendered outside it. At most
// kMaxBytes of answers, then emptied.
class RenderedProfiles {
 public:
  static constexpr std::size_t kMaxBytes = 64 * 1024 * 1024;

  std::optional<std::string> find(const Identity& fingerprint, std::optional<bool> verified,
                                  const ProfileVersion& version) {
    std::lock_guard lock(mutex_);
    auto found = entries_.find(Key{fingerprint.str(), verified});
    if (found == entries_.end() || found->second.version != version)
      return std::nullopt;
    return found->second.answer;
  }

  // `version` is the profile's as read before what `answer` was rendered
  // from (a change in between makes the version newer than the entry's).
  void keep(const Identity& fingerprint, std::optional<bool> verified, const ProfileVersion& version,
            const std::string& answer) {
    std::lock_guard lock(mutex_);
    const Key key{fingerprint.str(), verified};
    if (auto found = entries_.find(key); found != entries_.end()) {
      bytes_ -= found->second.answer.size();
      entries_.erase(found);
    }
    if (bytes_ + answer.size() > kMaxBytes) {
      entries_.clear();
      bytes_ = 0;
    }
    bytes_ += answer.size();
    entries_.insert_or_assign(key, Entry{version, answer});
  }

 private:
  using Key = std::pair<std::string, std::optional<bool>>;
  struct Entry {
    ProfileVersion version;
    std::string answer;
  };
  std::mutex mutex_;
  std::map<Key, Entry> entries_;
  std::size_t bytes_ = 0;
};

namespace {

// A challenge mail queued in the outbox by a publication that committed
// (storage.h, queue_mail), with the receipt that names its address.
struct QueuedMail {
  std::int64_t id;
  OutgoingMail mail;
};
struct QueuedMails {
  std::vector<QueuedMail> mails;
  PublishReceipt receipt;
};

// Pending join requests expire (rejected); rejected ones are deleted with
// their keys once kept long enough (Quotas::rejected_retention).
void expire_requests(ServiceStore& store, const Quotas& quotas, TimePoint now) {
  store.expire_requests(now - quotas.join_lifetime, now - quotas.join_lifetime - quotas.rejected_retention);
}

// How long a queued mail may wait for its process to send it before a
// publication takes it for lost (the process stopped): far beyond the
// relay's timeout.
constexpr std::chrono::minutes kAbandonedMailAfter{10};

class Handler {
 public:
  Handler(ServiceStore& store, const ServiceSettings& settings, Buckets& limiter, RenderedProfiles& rendered,
          LookupMemo* memo, const HttpRequest& request, TimePoint now, QueuedMails& queued)
      : store_(store),
        settings_(settings),
        limiter_(limiter),
        rendered_(rendered),
        memo_(memo),
        request_(request),
        now_(now),
        queued_(queued) {}

  HttpResponse run() {
    // Every client's requests first, before anything costs: unsigned reads
    // (lookups, pages) and everything else in separate buckets.
    const std::string client = client_key(request_.client);
    if ((request_.method == "GET" || request_.method == "HEAD") && request_.authorization.empty())
      limit("lookup/" + client, settings_.rates.lookup, "lookups from your address");
    else
      limit("signed/" + client, settings_.rates.signed_request, "requests from your address");
    auto segments = path_segments(request_.target);
    auto is = [&](std::initializer_list<std::string_view> pattern) {
      if (segments.size() != pattern.size())
        return false;
      std::size_t i = 0;
      for (std::string_view part : pattern) {
        if (part != "*" && part != segments[i])
          return false;
        ++i;
      }
      return true;
    };
    struct Route {
      std::string_view method;
      std::initializer_list<std::string_view> pattern;
      std::function<HttpResponse()> run;
    };
    const Route routes[] = {
        {"GET", {}, [&] { return pages::home(); }},
        {"GET", {"about"}, [&] { return pages::about(); }},
        {"GET", {"lookup"}, [&] { return lookup_page(); }},
        {"GET", {"certificates", "*"}, [&] { return certificates(segments[1]); }},
        {"GET", {"v1", "health"}, [&] { return respond(200, Health{"ok"}.to_json()); }},
        {"GET", {"v1", "addresses", "*"}, [&] { return get_address(segments[2]); }},
        {"GET", {"v1", "accounts", "*"}, [&] { return get_account(Identity(segments[2])); }},
        {"PUT", {"v1", "accounts", "*"}, [&] { return publish(Identity(segments[2])); }},
        {"GET", {"v1", "escrow", "*"}, [&] { return get_escrow(segments[2]); }},
        {"GET", {"verify", "*"}, [&] { return verify_page(segments[1], PageAction::Show); }},
        {"POST", {"verify", "*"}, [&] { return verify_page(segments[1], PageAction::Confirm); }},
        {"POST", {"v1", "accounts", "*", "confirmations"}, [&] { return confirm(Identity(segments[2])); }},
        {"DELETE",
         {"v1", "accounts", "*", "addresses", "*"},
         [&] { return withdraw(Identity(segments[2]), segments[4]); }},
        {"POST", {"v1", "accounts", "*", "invites"}, [&] { return add_invite(Identity(segments[2])); }},
        {"POST", {"v1", "accounts", "*", "requests"}, [&] { return join(Identity(segments[2])); }},
        {"GET", {"v1", "accounts", "*", "requests"}, [&] { return pending(Identity(segments[2])); }},
        {"DELETE", {"v1", "accounts", "*", "requests"}, [&] { return reject_all(Identity(segments[2])); }},
        {"POST",
         {"v1", "accounts", "*", "requests", "*"},
         [&] { return decide(Identity(segments[2]), RequestId(segments[4])); }},
        {"GET", {"v1", "requests", "*"}, [&] { return request_status(RequestId(segments[2])); }},
        {"PUT",
         {"v1", "accounts", "*", "devices", "*", "bundle"},
         [&] { return put_bundle(Identity(segments[2]), DeviceId(segments[4])); }},
        {"GET",
         {"v1", "accounts", "*", "devices", "*", "bundle"},
         [&] { return get_bundle(Identity(segments[2]), DeviceId(segments[4])); }},
        {"POST", {"v1", "accounts", "*", "records"}, [&] { return put_record(Identity(segments[2])); }},
        {"GET", {"v1", "accounts", "*", "records"}, [&] { return get_records(Identity(segments[2])); }},
    };
    // HEAD is GET without the body (RFC 9110 section 9.3.2; the HTTP server
    // sends no body for it). A method the path does not take: 405 with Allow.
    std::string_view method = request_.method;
    if (method == "HEAD")
      method = "GET";
    std::string allowed;
    for (const auto& route : routes) {
      if (is(route.pattern)) {
        if (route.method == method)
          return route.run();
        allowed += (allowed.empty() ? "" : ", ") + std::string(route.method) + (route.method == "GET" ? ", HEAD" : "");
      }
    }
    if (!allowed.empty()) {
      HttpResponse refusal =
          error_response({405, "method_not_allowed", fmt::format("{} is not allowed here", request_.method)});
      refusal.headers.emplace_back("Allow", allowed);
      return refusal;
    }
    refuse(404, "not_found", "no such resource");
  }

 private:
  // One token of `rate` from the bucket `key`, or 429 with Retry-After.
  void limit(const std::string& key, const Rate& rate, std::string_view what, std::uint32_t cost = 1) {
    if (auto wait = limiter_.admit(key, rate, now_, cost))
      throw Refusal{429, "rate_limited",
                    fmt::format("too many {}; try again in {} seconds", what, wait->count()), *wait};
  }

  // The body read strictly as `Document`; what is wrong with it is refused.
  template <typename Document>
  Document body() {
    if (!request_.content_type.starts_with("application/json"))
      refuse(415, "unsupported_media_type", "the body must be application/json");
    if (request_.body.size() > kMaxBodyBytes)
      refuse(413, "too_large", "the body is larger than the service accepts");
    Parsed<Document> parsed = Document::parse(request_.body);
    if (const Fault* fault = std::get_if<Fault>(&parsed))
      refuse(400, refusal_code(fault->kind), fmt::format("the body: {}", fault->describe()));
    return std::get<Document>(std::move(parsed));
  }

  AccountRecord account_or_404(const Identity& fingerprint) {
    auto account = store_.account(fingerprint);
    if (!account)
      refuse(404, "unknown_account", "no profile with that fingerprint is published here");
    return *account;
  }

  // Checks the Authorization header against `key` (named `key_id`), then
  // remembers its nonce. Only a valid signature may use up a nonce.
  void authenticate(const crypto::PublicKey& key, std::string_view key_id, const std::string& scope) {
    if (request_.authorization.empty())
      refuse(401, "unauthenticated", "this request must be signed (Authorization: Mailseal-Signature ...)");
    RequestAuthorization authorization;
    try {
      authorization = parse_authorization(request_.authorization);
    } catch (const Error& error) {
      refuse(401, "bad_authorization", error.what());
    }
    if (authorization.key != key_id)
      refuse(401, "wrong_key", fmt::format("this request must be signed with the {} key", key_id));
    if (authorization.time < now_ - kMaxClockSkew || authorization.time > now_ + kMaxClockSkew)
      refuse(401, "expired", "the request's time is too far from the service's clock (expired or replayed?)");
    if (!verify_authorization(key, authorization, request_.method, request_.target, as_bytes(request_.body)))
      refuse(401, "bad_signature", "the request's signature does not verify");
    if (!store_.remember_nonce(scope + "/" + authorization.key, authorization.nonce, now_, now_ - 2 * kMaxClockSkew))
      refuse(401, "replayed", "this request was seen before (replayed)");
    // The profile's own keys (its root, its devices) share one bucket; a
    // stranger's key (a joining device) cannot drain it.
    if (key_id != kJoiningDeviceKey)
      limit("account/" + scope, settings_.rates.account, "requests for this profile");
  }

  void authenticate_root(const AccountRecord& account) {
    authenticate(crypto::Certificate::from_der(account.root).public_key(), kRootKey, account.fingerprint.str());
  }

  // The addresses the service serves for a profile (claims.h).
  std::vector<std::string> served_addresses(const Identity& fingerprint) {
    std::vector<std::string> out;
    for (const auto& claim : store_.claims_of(fingerprint)) {
      if (is_served(claim))
        out.push_back(claim.address);
    }
    return out;
  }

  // What the service hands out: the profile as published, listing only the
  // addresses it serves for it.
  PublishedProfile public_profile(const AccountRecord& account,
                                  const std::optional<std::vector<std::string>>& addresses = std::nullopt) {
    PublishedProfile profile = stored<PublishedProfile>(account.document);
    profile.updated_at = account.updated_at;
    profile.addresses.clear();
    for (const auto& address : addresses ? *addresses : served_addresses(account.fingerprint))
      profile.addresses.push_back(EmailAddress::parse(address));
    return profile;
  }

  // The same as JSON, with `verified` for a lookup by address, memoized
  // (RenderedProfiles). The account was read before its addresses are.
  std::string public_profile_json(const AccountRecord& account, std::optional<bool> verified) {
    const ProfileVersion version{account.generation, account.updated_at};
    if (auto answer = rendered_.find(account.fingerprint, verified, version))
      return std::move(*answer);
    PublishedProfile profile = public_profile(account, served_addresses(account.fingerprint));
    profile.verified = verified;
    std::string answer = profile.to_json();
    rendered_.keep(account.fingerprint, verified, version, answer);
    return answer;
  }

  HttpResponse public_profile_answer(const AccountRecord& account, std::optional<bool> verified) {
    return respond(200, public_profile_json(account, verified));
  }

  // No round trip when this process's LookupMemo has the answer (PostgreSQL,
  // its listener connected); else one statement when the answer is
  // memoized by version: the claims to the address with each claimant's
  // version (docs/service.md, "Back ends").
  HttpResponse get_address(const std::string& text) {
    if (!EmailAddress::is_valid(text))
      refuse(400, "bad_address", "not an email address");
    const std::string address = EmailAddress::parse(text).str();
    // Taken before the database is read: an answer read before a change is
    // not kept once the change's notification came (lookup_memo.h).
    const std::optional<LookupMemo::Ticket> ticket = memo_ ? memo_->ticket() : std::nullopt;
    if (ticket) {
      if (auto answer = memo_->find(address))
        return respond(200, std::move(*answer));
    }
    // SQLite: its reads see one state of the database and lock it once.
    sql::ReadSnapshot snapshot(store_.connection());
    AddressClaims found = store_.claims_with_versions(address);
    std::optional<std::size_t> served = served_claim(found.claims);
    if (!served)
      refuse(404, "unknown_address", "no profile is published here for that address (or none verified yet)");
    const Claim& claim = found.claims[*served];
    const bool verified = claim.state == ClaimState::Verified;
    std::optional<std::string> answer = rendered_.find(claim.account, verified, found.versions[*served]);
    if (!answer)
      answer = public_profile_json(account_or_404(claim.account), verified);
    if (ticket)
      memo_->keep(address, claim.account.str(), *ticket, *answer);
    return respond(200, std::move(*answer));
  }

  // GET /lookup?q=: the page for an address or a fingerprint (docs/service.md, "Pages").
  HttpResponse lookup_page() {
    std::string query = pages::query_parameter(request_.target, "q").value_or("");
    while (!query.empty() && query.back() == ' ')
      query.pop_back();
    query.erase(0, query.find_first_not_of(' '));
    const bool printable = std::none_of(query.begin(), query.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    if (query.empty() || query.size() > 256 || !printable)
      return pages::bad_query(printable ? query : "");
    // A strong address: look up its address, then hold the profile to its fingerprint.
    std::optional<udf::Fingerprint> pinned;
    std::string address = query;
    if (udf::StrongAddress::looks_strong(query)) {
      try {
        udf::StrongAddress strong = udf::StrongAddress::parse(query);
        pinned = strong.fingerprint;
        address = strong.address.str();
      } catch (const Error&) {
        return pages::bad_query(query);
      }
    }
    std::optional<AccountRecord> account;
    std::optional<bool> verified;
    if (address.find('@') != std::string::npos) {
      if (!EmailAddress::is_valid(address))
        return pages::bad_query(query);
      std::vector<Claim> claims = store_.claims(EmailAddress::parse(address).str());
      if (std::optional<std::size_t> served = served_claim(claims)) {
        account = store_.account(claims[*served].account);
        verified = claims[*served].state == ClaimState::Verified;
      }
    } else {
      account = store_.account(Identity(query));
    }
    if (!account)
      return pages::not_found(query);
    if (pinned && !pinned->matches(udf::Fingerprint::parse(account->fingerprint.str())))
      return pages::mismatch(query, account->fingerprint.str());
    PublishedProfile profile = public_profile(*account);
    pages::ProfileView view{query, profile.root.common_name(), profile.fingerprint.str(), {}, {}, verified};
    const udf::Fingerprint fingerprint = udf::Fingerprint::parse(profile.fingerprint.str());
    for (const auto& served : profile.addresses) {
      view.addresses.push_back(served.str());
      view.strong_addresses.push_back(udf::StrongAddress{served, fingerprint}.to_strong_name_form());
    }
    return pages::profile(view);
  }

  // GET /certificates/FINGERPRINT.pem or .p7c: the profile's root and device
  // certificates, for people to import into a mail client.
  HttpResponse certificates(const std::string& file) {
    const bool pem = file.ends_with(".pem");
    if (!pem && !file.ends_with(".p7c"))
      return pages::not_found(file);
    std::optional<AccountRecord> account = store_.account(Identity(file.substr(0, file.size() - 4)));
    if (!account)
      return pages::not_found(file.substr(0, file.size() - 4));
    PublishedProfile profile = public_profile(*account);
    std::vector<crypto::Certificate> all{profile.root};
    all.insert(all.end(), profile.certificates.begin(), profile.certificates.end());
    HttpResponse response;
    if (pem) {
      for (const auto& certificate : all)
        response.body += certificate.pem();
      response.content_type = "application/x-pem-file";
    } else {
      Bytes der = crypto::certs_only_pkcs7(all);
      response.body.assign(der.begin(), der.end());
      response.content_type = "application/pkcs7-mime; smime-type=certs-only";
    }
    response.headers = {{"Content-Disposition", fmt::format("attachment; filename=\"mailseal-profile.{}\"",
                                                           pem ? "pem" : "p7c")},
                        {"X-Content-Type-Options", "nosniff"},
                        {"Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"}};
    return response;
  }

  HttpResponse get_account(const Identity& fingerprint) {
    sql::ReadSnapshot snapshot(store_.connection());
    return public_profile_answer(account_or_404(fingerprint), std::nullopt);
  }

  HttpResponse publish(const Identity& fingerprint) {
    Publication publication = body<Publication>();
    check_root(publication.root, fingerprint);
    authenticate(publication.root.public_key(), kRootKey, fingerprint.str());
    if (!store_.account(fingerprint))
      limit("new-profile/" + client_key(request_.client), settings_.rates.new_profile, "new profiles from your address");
    std::vector<EmailAddress> addresses = addresses_of(publication.root);
    check_counts(publication, addresses.size());
    check_issued_by_root(publication);
    std::vector<StoredDevice> devices = checked_devices(publication.devices, publication.root);
    PublishedProfile profile{fingerprint,
                             publication.root,
                             addresses,
                             publication.certificates,
                             publication.endorsements,
                             publication.revocations,
                             publication.devices,
                             std::nullopt,
                             std::nullopt};
    AccountRecord account{fingerprint, publication.root.der(), profile.to_json(), std::nullopt, std::nullopt, now_};
    if (publication.escrow)
      keep_escrow(*publication.escrow, account);
    const std::size_t stored_bytes = account.document.size() + (account.escrow ? account.escrow->size() : 0);
    if (stored_bytes > settings_.quotas.document_bytes)
      refuse(413, "over_quota",
             fmt::format("the profile would take {} KiB here; this service keeps at most {} KiB a profile",
                         (stored_bytes + 1023) / 1024, settings_.quotas.document_bytes / 1024));
    std::vector<std::string> listed;
    for (const auto& address : addresses)
      listed.push_back(address.str());
    sql::Transaction transaction(store_.connection());
    store_.save_account(account, devices);
    std::vector<QueuedMail> mails;
    PublishReceipt receipt{fingerprint, listed, now_, claim_addresses(fingerprint, listed, mails)};
    transaction.commit();
    // Sent by Api::handle once this request's connection is given back.
    queued_ = QueuedMails{std::move(mails), receipt};
    return respond(200, receipt.to_json());
  }

  // What one profile may publish here (Quotas): beyond it, 400 naming it.
  void check_counts(const Publication& publication, std::size_t addresses) {
    const Quotas& quotas = settings_.quotas;
    auto over = [](std::size_t count, std::size_t quota, std::string_view what) {
      if (count > quota)
        refuse(400, "over_quota", fmt::format("{} {}; this service keeps at most {} a profile", count, what, quota));
    };
    over(addresses, quotas.addresses, "addresses");
    over(publication.devices.size(), quotas.devices, "devices");
    over(publication.certificates.size(), quotas.certificates, "certificates");
  }

  // Challenge mails are limited per recipient address (nobody is mailed
  // without end), per profile and per client. All are checked before any
  // is taken, so a refused publication costs nothing.
  void limit_mails(const Identity& fingerprint, const std::vector<OutgoingMail>& mails) {
    if (mails.empty())
      return;
    const auto count = static_cast<std::uint32_t>(mails.size());
    const std::string account = "account-mails/" + fingerprint.str();
    const std::string client = "client-mails/" + client_key(request_.client);
    std::optional<std::chrono::seconds> wait;
    auto longest = [&](std::optional<std::chrono::seconds> w) {
      if (w && (!wait || *w > *wait))
        wait = w;
    };
    for (const auto& mail : mails)
      longest(limiter_.wait("address-mails/" + recipient_key(mail.recipient), settings_.rates.address_mails, now_));
    longest(limiter_.wait(account, settings_.rates.account_mails, now_, count));
    longest(limiter_.wait(client, settings_.rates.client_mails, now_, count));
    if (wait)
      throw Refusal{429, "rate_limited",
                    fmt::format("the service has sent enough challenge mails to these addresses, this profile or "
                                "your address for now; nothing was published, try again in {} seconds",
                                wait->count()),
                    *wait};
    for (const auto& mail : mails)
      limiter_.take("address-mails/" + recipient_key(mail.recipient), settings_.rates.address_mails, now_);
    limiter_.take(account, settings_.rates.account_mails, now_, count);
    limiter_.take(client, settings_.rates.client_mails, now_, count);
  }

  // The profile's claim to each address its root names (claims.h); queues
  // the challenges in the outbox, inside the publication's transaction
  // (they are sent after it commits, with no connection held: a slow relay
  // stalls nobody else). Mails a failure or a stopped process left unsent
  // are mailed again with a new link.
  std::vector<AddressClaim> claim_addresses(const Identity& fingerprint, const std::vector<std::string>& addresses,
                                            std::vector<QueuedMail>& queued) {
    store_.drop_stale_claims(now_);
    store_.fail_abandoned_mails(now_ - kAbandonedMailAfter, now_);
    store_.forget_mail_failures(fingerprint);
    std::vector<AddressClaim> states;
    std::vector<OutgoingMail> mails;
    std::vector<std::string> token_hashes;
    for (const auto& address : addresses) {
      std::vector<Claim> claims = store_.claims(address);
      switch (on_publish(claims, fingerprint, settings_.verification, now_)) {
        case PublishStep::Taken:
          refuse(409, "address_taken", fmt::format("{} is published by another profile", address));
        case PublishStep::List:
          store_.put_claim({address, fingerprint, ClaimState::Listed, now_, now_, now_}, std::nullopt);
          states.push_back({address, std::string(kClaimListed)});
          break;
        case PublishStep::Challenge: {
          Claim claim = pending_claim(address, fingerprint, now_, settings_.lifetimes);
          std::string token = to_hex(crypto::random_bytes(kTokenBytes));
          token_hashes.push_back(token_hash(token));
          store_.put_claim(claim, token_hashes.back());
          mails.push_back(challenge_mail(settings_, claim, token, served_for_another(claim, claims), now_));
          states.push_back({address, std::string(kClaimPending)});
          break;
        }
        case PublishStep::Keep:
          for (const auto& claim : claims) {
            if (claim.account == fingerprint)
              states.push_back({address, std::string(to_string(claim.state))});
          }
          break;
      }
    }
    limit_mails(fingerprint, mails);
    for (std::size_t i = 0; i < mails.size(); ++i) {
      const Claim claim{mails[i].recipient, fingerprint, ClaimState::Pending, now_, now_, now_};
      queued.push_back({store_.queue_mail(claim, token_hashes[i], mails[i], now_), std::move(mails[i])});
    }
    return states;
  }

  enum class PageAction { Show, Confirm };

  // GET /verify/TOKEN shows what the link confirms and a button; only the
  // button's POST confirms, since mail scanners fetch links by themselves.
  // Whatever the outcome, a page for a person.
  HttpResponse verify_page(const std::string& token, PageAction action) {
    using pages::VerifyPage;
    std::optional<Claim> claim;
    if (is_verification_token(token))
      claim = store_.claim_for_token(token_hash(token));
    if (!claim)
      return pages::verify(VerifyPage::Unknown, 404);
    pages::VerifyView view{claim->address, claim->account.str(), {}};
    // What the button finds done or impossible is a conflict; the link only shows it.
    const int shown = action == PageAction::Show ? 200 : 409;
    switch (answer_challenge(*claim, now_)) {
      case ChallengeAnswer::Expired:
        return pages::verify(VerifyPage::Expired, 410, view);
      case ChallengeAnswer::AlreadyConfirmed:
        return pages::verify(VerifyPage::ConfirmedAlready, shown, view);
      case ChallengeAnswer::Confirm:
        break;
    }
    if (std::optional<Claim> other = served_for_another(*claim, store_.claims(claim->address))) {
      view.other = other->account.str();
      return pages::verify(VerifyPage::OtherProfile, shown, view);
    }
    if (action == PageAction::Show)
      return pages::verify(VerifyPage::Confirm, 200, view);
    if (!store_.confirm_claim(*claim, now_))
      return pages::verify(VerifyPage::ConfirmedFirst, 409, view);
    return pages::verify(VerifyPage::Confirmed, 200, view);
  }

  // The same with the token sent by the profile, signed by its root.
  HttpResponse confirm(const Identity& fingerprint) {
    AccountRecord account = account_or_404(fingerprint);
    Confirmation confirmation = body<Confirmation>();
    authenticate_root(account);
    std::optional<Claim> claim;
    if (is_verification_token(confirmation.token))
      claim = store_.claim_for_token(token_hash(confirmation.token));
    if (!claim || claim->account != fingerprint)
      refuse(404, "unknown_token", "no challenge with that token was sent for this profile (or its claim is gone)");
    switch (answer_challenge(*claim, now_)) {
      case ChallengeAnswer::Expired:
        refuse(410, "expired", "the challenge has expired; publish again for a new one");
      case ChallengeAnswer::AlreadyConfirmed:
        refuse(409, "confirmed_already", "the address was confirmed already");
      case ChallengeAnswer::Confirm:
        break;
    }
    if (!store_.confirm_claim(*claim, now_))
      refuse(409, "claimed_by_another", "another profile's claim to the address was confirmed first");
    return respond(200, AddressClaim{claim->address, std::string(kClaimVerified)}.to_json());
  }

  // The owner stops the service serving one of its addresses.
  HttpResponse withdraw(const Identity& fingerprint, const std::string& text) {
    AccountRecord account = account_or_404(fingerprint);
    authenticate_root(account);
    if (!EmailAddress::is_valid(text))
      refuse(400, "bad_address", "not an email address");
    const std::string address = EmailAddress::parse(text).str();
    if (!store_.remove_claim(address, fingerprint))
      refuse(404, "unknown_claim", "this profile has no claim to that address here");
    return respond(200, AddressClaim{address, std::string(kClaimWithdrawn)}.to_json());
  }

  // A published root is a profile root whose fingerprint is the one in the
  // path, and never changes.
  void check_root(const crypto::Certificate& root, const Identity& fingerprint) {
    if (!is_profile_root(root))
      refuse(400, "bad_root", "the root must be a self-signed CA certificate");
    if (profile_fingerprint_of(root) != fingerprint)
      refuse(400, "bad_root", "the root's key fingerprint is not the one in the path");
    // The same key renewed (docs/profile.md, "The root's renewal") replaces
    // the root certificate: under the same name, so that what the old one
    // issued verifies under it, and never by an older one.
    auto existing = store_.account(fingerprint);
    if (!existing || existing->root == root.der())
      return;
    crypto::Certificate published = crypto::Certificate::from_der(existing->root);
    if (!same_profile_root(root, published))
      refuse(409, "root_changed", "a renewed root keeps the profile's name; publish a rotation for another profile");
    if (root.not_after() <= published.not_after())
      refuse(409, "root_outdated", "the profile's published root certificate is newer than this one");
  }

  // The root's name constraints: the addresses the profile claims.
  std::vector<EmailAddress> addresses_of(const crypto::Certificate& root) {
    std::vector<EmailAddress> addresses;
    for (const auto& constraint : crypto::permitted_email_constraints(root)) {
      if (!EmailAddress::is_valid(constraint))
        refuse(400, "bad_root", "the root's name constraints must be email addresses");
      addresses.push_back(EmailAddress::parse(constraint));
    }
    if (addresses.empty() || addresses.size() > kMaxAddresses)
      refuse(400, "bad_root", fmt::format("the root must be constrained to between 1 and {} addresses", kMaxAddresses));
    return addresses;
  }

  // Certificates, endorsements and revocation lists: the root's, and what they claim to be.
  void check_issued_by_root(const Publication& publication) {
    for (const auto& certificate : publication.certificates) {
      if (!certificate.is_issued_by(publication.root))
        refuse(400, "bad_certificate", "every certificate must be issued by the root");
    }
    if (!publication.endorsements.empty()) {
      try {
        (void)crypto::Certificate::read_all(as_bytes(publication.endorsements));
      } catch (const Error&) {
        refuse(400, "bad_field", "'endorsements' must be PEM certificates");
      }
    }
    for (const auto& der : publication.revocations) {
      try {
        if (!crypto::RevocationList::read(der).is_issued_by(publication.root))
          refuse(400, "bad_revocation", "every revocation list must be issued by the root");
      } catch (const Error&) {
        refuse(400, "bad_revocation", "'revocations' must hold DER revocation lists");
      }
    }
  }

  std::vector<StoredDevice> checked_devices(const std::vector<DeviceEntry>& devices, const crypto::Certificate& root) {
    std::vector<StoredDevice> out;
    for (const auto& device : devices) {
      if (!device.signature_certificate.is_issued_by(root) || !device.agreement_certificate.is_issued_by(root))
        refuse(400, "bad_device", "device certificates must be issued by the root");
      if (device.device_id != device_id_of(device.signature_certificate.public_key()))
        refuse(400, "bad_device", "a device id is the fingerprint of its signature key");
      if (device.status != "active" && device.status != "removed")
        refuse(400, "bad_device", "a device's status is active or removed");
      if (device.role != "admin" && device.role != "full" && device.role != "read")
        refuse(400, "bad_device", "a device's role is admin, full or read");
      if (std::any_of(out.begin(), out.end(), [&](const StoredDevice& e) { return e.device_id == device.device_id; }))
        refuse(400, "bad_device", "a device is listed twice");
      out.push_back({device.device_id, device.signature_certificate.der(), device.status});
    }
    return out;
  }

  void keep_escrow(const EscrowReference& escrow, AccountRecord& account) {
    if (auto other = store_.account_for_escrow(escrow.id);
        escrow.id.empty() || (other && other->fingerprint != account.fingerprint))
      refuse(409, "bad_escrow", "that escrow id belongs to another profile");
    account.escrow = escrow.data;
    account.escrow_id = escrow.id;
  }

  // Public: the escrow is sealed with a key only the profile's root secret
  // gives, and found by an id derived from that secret, which is all a
  // restoring device has.
  HttpResponse get_escrow(const std::string& escrow_id) {
    auto account = store_.account_for_escrow(escrow_id);
    if (!account || !account->escrow)
      refuse(404, "no_escrow", "no escrow with that id is kept here");
    return respond(200, EscrowAnswer{account->fingerprint, *account->escrow}.to_json());
  }

  HttpResponse add_invite(const Identity& fingerprint) {
    AccountRecord account = account_or_404(fingerprint);
    Invitation invitation = body<Invitation>();
    authenticate_root(account);
    // expires_at > now first: the difference then cannot overflow.
    if (invitation.expires_at <= now_ || !invitation_lifetime_allowed(invitation.expires_at - now_))
      refuse(400, "bad_field", "an invitation expires within a week");
    // Counted and added under the profile's lock: processes sharing the
    // database cannot each add the last one.
    sql::Transaction transaction(store_.connection());
    store_.lock_account(fingerprint);
    if (invitation.pin_id.empty() ||
        store_.open_invites(fingerprint, now_) >= static_cast<int>(kMaxOpenInvitations))
      refuse(429, "too_many", "too many open invitations");
    try {
      store_.add_invite(invitation.pin_id, fingerprint, invitation.expires_at);
    } catch (const Error&) {
      refuse(409, "duplicate", "that invitation exists already");
    }
    transaction.commit();
    return respond(201, invitation.to_json());
  }

  HttpResponse join(const Identity& fingerprint) {
    AccountRecord account = account_or_404(fingerprint);
    JoinRequest request = body<JoinRequest>();
    crypto::PublicKey key = [&] {
      try {
        crypto::PublicKey::from_spki_der(request.agreement_key);
        return crypto::PublicKey::from_spki_der(request.signature_key);
      } catch (const Error&) {
        refuse(400, "bad_key", "the device keys must be SubjectPublicKeyInfo");
      }
    }();
    authenticate(key, kJoiningDeviceKey, fingerprint.str());
    expire_requests(store_, settings_.quotas, now_);
    // Two lanes (docs/service.md, "Abuse"): a request with a valid PIN is
    // the owner's (the service knows the PIN id only from the root) and is
    // never limited or evicted by anyone else's; one without a PIN is a
    // stranger's as far as the service knows: rate-limited per profile, and
    // the oldest goes when too many wait.
    const std::string joins = "joins/" + fingerprint.str();
    if (request.pin_id) {
      try {
        use_invite(*request.pin_id, fingerprint);
      } catch (const Refusal&) {
        limiter_.take(joins, settings_.rates.joins, now_);  // wrong PINs count as joins without one
        throw;
      }
    } else {
      limit(joins, settings_.rates.joins, "requests to join this profile");
    }
    // Counted, evicted and added under the profile's lock: requests to
    // several processes sharing the database cannot overfill the queue.
    sql::Transaction transaction(store_.connection());
    store_.lock_account(fingerprint);
    if (!request.pin_id) {
      store_.evict_oldest_requests(
          fingerprint, joins_to_evict(static_cast<std::size_t>(store_.pending_count(fingerprint, JoinLane::NoPin)),
                                      settings_.quotas));
    }
    PendingRequest pending{RequestId(to_hex(crypto::random_bytes(16))),
                           request,
                           to_hex(crypto::random_bytes(16)),
                           now_,
                           std::nullopt,
                           std::nullopt};
    store_.add_request({pending.request_id, fingerprint, pending.to_json(), request.signature_key, "pending",
                        std::nullopt, now_},
                       request.pin_id ? JoinLane::Pin : JoinLane::NoPin);
    transaction.commit();
    return respond(201, JoinReceipt{pending.request_id, pending.service_nonce}.to_json());
  }

  void use_invite(const std::string& pin_id, const Identity& fingerprint) {
    switch (store_.use_invite(pin_id, fingerprint, now_)) {
      case InviteUse::Accepted:
        return;
      case InviteUse::Unknown:
        refuse(403, "bad_pin", "the PIN is wrong or was not issued for this profile");
      case InviteUse::Used:
        refuse(403, "pin_used", "the PIN was used already");
      case InviteUse::Expired:
        refuse(403, "pin_expired", "the PIN has expired");
    }
  }

  HttpResponse pending(const Identity& fingerprint) {
    AccountRecord account = account_or_404(fingerprint);
    authenticate_root(account);
    expire_requests(store_, settings_.quotas, now_);
    PendingRequests answer;
    for (const auto& request : store_.pending_requests(fingerprint))
      answer.requests.push_back(stored<PendingRequest>(request.document));
    return respond(200, answer.to_json());
  }

  // The owner clears a spammed queue at once.
  HttpResponse reject_all(const Identity& fingerprint) {
    AccountRecord account = account_or_404(fingerprint);
    authenticate_root(account);
    return respond(200, Rejections{store_.reject_pending(fingerprint)}.to_json());
  }

  HttpResponse decide(const Identity& fingerprint, const RequestId& id) {
    AccountRecord account = account_or_404(fingerprint);
    Decision decision = body<Decision>();
    authenticate_root(account);
    expire_requests(store_, settings_.quotas, now_);
    auto request = store_.request(id);
    if (!request || request->account != fingerprint)
      refuse(404, std::string(kUnknownRequestCode), "no such request for this profile");
    PendingRequest kept = stored<PendingRequest>(request->document);
    std::optional<Bytes> bundle;
    if (decision.accepted) {
      // The device's certificates, so that it can find itself among the
      // bundle's recipients; they must certify the keys it asked for.
      const Acceptance& accepted = *decision.accepted;
      crypto::Certificate root = crypto::Certificate::from_der(account.root);
      if (!accepted.signature_certificate.is_issued_by(root) || !accepted.agreement_certificate.is_issued_by(root) ||
          accepted.signature_certificate.public_key().spki_der() != request->signature_key ||
          accepted.agreement_certificate.public_key().spki_der() != kept.request.agreement_key)
        refuse(400, "bad_certificate", "the certificates must be the root's, for the keys the device sent");
      kept.signature_certificate = accepted.signature_certificate;
      kept.agreement_certificate = accepted.agreement_certificate;
      bundle = accepted.bundle;
    }
    RequestState state = decision.accepted ? RequestState::Accepted : RequestState::Rejected;
    if (!store_.decide(id, std::string(to_string(state)), kept.to_json(), bundle))
      refuse(409, "decided", "the request was decided already");
    return respond(200, DecisionReceipt{id, state}.to_json());
  }

  HttpResponse request_status(const RequestId& id) {
    expire_requests(store_, settings_.quotas, now_);
    auto request = store_.request(id);
    if (!request)
      refuse(404, std::string(kUnknownRequestCode),
             "no such request (a rejected or expired request is deleted after some days; join again)");
    authenticate(crypto::PublicKey::from_spki_der(request->signature_key), kJoiningDeviceKey, request->account.str());
    RequestStatus status{id, state_of(*request), std::nullopt};
    if (status.state == RequestState::Accepted) {
      PendingRequest kept = stored<PendingRequest>(request->document);
      if (!request->bundle || !kept.signature_certificate || !kept.agreement_certificate)
        throw Error(ErrorCode::Internal, "an accepted request lacks its bundle or certificates");
      status.accepted = Acceptance{*request->bundle, *kept.signature_certificate, *kept.agreement_certificate};
    }
    return respond(200, status.to_json());
  }

  HttpResponse put_bundle(const Identity& fingerprint, const DeviceId& device_id) {
    AccountRecord account = account_or_404(fingerprint);
    BundleEnvelope envelope = body<BundleEnvelope>();
    authenticate_root(account);
    auto device = store_.device(fingerprint, device_id);
    if (!device)
      refuse(404, "unknown_device", "no such device in the published profile");
    if (device->status != "active")
      refuse(409, std::string(kDeviceRemovedCode), "the device was removed");
    store_.put_bundle(fingerprint, device_id, envelope.bundle, now_);
    return respond(200, BundleReceipt{device_id, now_}.to_json());
  }

  HttpResponse get_bundle(const Identity& fingerprint, const DeviceId& device_id) {
    account_or_404(fingerprint);
    authenticate_active_device(fingerprint, device_id);
    auto bundle = store_.bundle(fingerprint, device_id);
    if (!bundle)
      refuse(404, "no_bundle", "no key bundle for this device yet");
    return respond(200, DeviceBundle{device_id, *bundle}.to_json());
  }

  // A request signed by an active device of the profile (its bundle, trust
  // records); a removed one is refused (403).
  void authenticate_active_device(const Identity& fingerprint, const DeviceId& device_id) {
    auto device = store_.device(fingerprint, device_id);
    if (!device)
      refuse(404, "unknown_device", "no such device in the published profile");
    authenticate(crypto::Certificate::from_der(device->signature_certificate).public_key(), device_id.str(),
                 fingerprint.str());
    if (device->status != "active")
      refuse(403, std::string(kDeviceRemovedCode), "this device was removed from the profile");
  }

  HttpResponse put_record(const Identity& fingerprint) {
    account_or_404(fingerprint);
    if (request_.body.size() > kMaxRecordBytes * 4 / 3 + 1024)
      refuse(413, "too_large", fmt::format("a trust record is at most {} KiB", kMaxRecordBytes / 1024));
    RecordUpload upload = body<RecordUpload>();
    authenticate_active_device(fingerprint, upload.device_id);
    sql::Transaction transaction(store_.connection());
    store_.lock_account(fingerprint);
    if (static_cast<std::size_t>(store_.record_count(fingerprint)) >= settings_.quotas.trust_records)
      refuse(429, "quota_exceeded", "this profile keeps as many trust records as the service allows");
    const std::int64_t last = store_.last_record(fingerprint, upload.device_id);
    if (upload.seq != last + 1 ||
        !store_.add_record(fingerprint, {upload.device_id, upload.seq, upload.sealed}, now_)) {
      refuse(409, std::string(kRecordOutOfOrderCode),
             fmt::format("the next trust record of this device is number {}, not {}", last + 1, upload.seq));
    }
    transaction.commit();
    return respond(200, RecordReceipt{upload.device_id, upload.seq}.to_json());
  }

  HttpResponse get_records(const Identity& fingerprint) {
    account_or_404(fingerprint);
    RequestAuthorization authorization;
    try {
      authorization = parse_authorization(request_.authorization);
    } catch (const Error& error) {
      refuse(401, "bad_authorization", error.what());
    }
    authenticate_active_device(fingerprint, DeviceId(authorization.key));
    auto after = parse_records_query(pages::query_parameter(request_.target, "after").value_or(""));
    if (!after)
      refuse(400, "bad_query", "after= is DEVICE:SEQ,DEVICE:SEQ");
    return respond(200, store_.records_after(fingerprint, *after, kMaxRecordsPerAnswer).to_json());
  }

  ServiceStore& store_;
  const ServiceSettings& settings_;
  Buckets& limiter_;
  RenderedProfiles& rendered_;
  LookupMemo* memo_;  // PostgreSQL's lookups from memory; nullptr on SQLite
  const HttpRequest& request_;
  TimePoint now_;
  QueuedMails& queued_;
};

// Sends the mails a publication queued, with no connection held, then
// records each outcome (a connection leased again by `with_store`). A mail
// that failed is named in the receipt as kClaimMailFailed; its claim stays
// pending and the profile's next publication mails a new link. After one
// failure the rest are not tried (a relay that hung once would hold the
// publication 20 s for each of up to 32 mails) and fail with it.
HttpResponse send_queued(QueuedMails& queued, const ServiceSettings& settings,
                         const std::function<void(const std::function<void(ServiceStore&)>&)>& with_store,
                         TimePoint now) {
  std::vector<std::pair<std::int64_t, std::string>> failed;
  std::vector<std::int64_t> sent;
  for (const auto& [id, mail] : queued.mails) {
    try {
      if (!failed.empty())
        throw Error(ErrorCode::Io, fmt::format("not tried: the relay failed on an earlier mail ({})",
                                               failed.front().second));
      settings.send_mail(mail);
      sent.push_back(id);
    } catch (const std::exception& error) {
      failed.emplace_back(id, error.what());
      for (auto& claim : queued.receipt.claims) {
        if (claim.address == mail.recipient)
          claim.state = std::string(kClaimMailFailed);
      }
    }
  }
  try {
    with_store([&](ServiceStore& store) {
      for (std::int64_t id : sent)
        store.mail_sent(id);
      for (const auto& [id, error] : failed)
        store.mail_failed(id, error, now);
    });
  } catch (const std::exception&) {
    // Left queued: the next publication takes them for lost
    // (kAbandonedMailAfter); a sent mail's row then only records a failure.
  }
  return respond(200, queued.receipt.to_json());
}

}  // namespace

// The connections of one Api (docs/service.md, "Back ends"): one per request
// being served at once (at most the server's worker threads), opened when
// first needed and kept for the next. SQLite's readers run side by side
// (WAL); its writers take turns in the process (write_turns), then the
// file's one write lock (BEGIN IMMEDIATE, with the busy timeout) against
// other processes on the same file.
struct Api::Backend {
  static constexpr std::size_t kMaxPostgresConnections = 64;
  static constexpr std::size_t kMaxSqliteConnections = 4;
  // Housekeeping, by whichever request comes this long after the last:
  // buckets untouched for longer than the longest period are full again
  // (PostgreSQL) and forgotten; expired join requests are rejected and old
  // rejected ones deleted, even on a service nobody asks to join.
  static constexpr std::chrono::seconds kHousekeepingEvery{300};

  std::string database;
  bool postgres;
  std::size_t limit;
  std::mutex mutex;
  std::condition_variable released;
  std::vector<std::unique_ptr<ServiceStore>> idle;
  std::size_t open = 0;
  MemoryBuckets memory;
  TimePoint housekept{};  // housekeeping was done then
  // PostgreSQL: lookups answered from memory while the listener is
  // connected (the listener goes first: it reports to the memo).
  std::unique_ptr<LookupMemo> memo;
  std::unique_ptr<LookupListener> listener;

  explicit Backend(const std::string& name)
      : database(name),
        postgres(sql::is_postgres(name)),
        limit(postgres ? kMaxPostgresConnections : kMaxSqliteConnections) {
    idle.push_back(make_store());  // made and upgraded now: errors at start
    open = 1;
    if (postgres) {
      memo = std::make_unique<LookupMemo>();
      listener = std::make_unique<LookupListener>(database, *memo);
    }
  }

  // SQLite's writers of this process take turns (sql::Connection::share_write_turns).
  std::shared_ptr<sql::WriteTurns> write_turns = std::make_shared<sql::WriteTurns>();

  std::unique_ptr<ServiceStore> make_store() const {
    auto store = std::make_unique<ServiceStore>(database);
    store->connection().share_write_turns(write_turns);
    return store;
  }

  std::unique_ptr<ServiceStore> lease() {
    std::unique_lock lock(mutex);
    released.wait(lock, [&] { return !idle.empty() || open < limit; });
    if (!idle.empty()) {
      auto store = std::move(idle.back());
      idle.pop_back();
      return store;
    }
    ++open;
    lock.unlock();
    try {
      return make_store();
    } catch (...) {
      give_back(nullptr);
      throw;
    }
  }

  // A lost connection is closed, not handed out again.
  void give_back(std::unique_ptr<ServiceStore> store) {
    std::lock_guard lock(mutex);
    if (store && store->connection().healthy())
      idle.push_back(std::move(store));
    else
      --open;
    released.notify_one();
  }

  // Whether this request should do the housekeeping (one at a time).
  bool housekeeping_due(TimePoint now) {
    std::lock_guard lock(mutex);
    if (now < housekept + kHousekeepingEvery)
      return false;
    housekept = now;
    return true;
  }
};

namespace {

// Before a request is answered: every process's lookups from memory have
// forgotten what its transactions changed (ServiceStore::fence_lookups). A
// fence that fails is not the request's failure: what it wrote stands.
void fence(ServiceStore& store, LookupListener* listener) noexcept {
  try {
    store.fence_lookups(listener);
  } catch (const std::exception&) {
  }
}

// The longest period of any rate limit: a bucket untouched that long is full.
std::chrono::seconds longest_period(const RateLimits& rates) {
  std::chrono::seconds longest{1};
  for (const Rate* rate : {&rates.lookup, &rates.signed_request, &rates.new_profile, &rates.client_mails,
                           &rates.account, &rates.account_mails, &rates.address_mails, &rates.joins})
    longest = std::max(longest, rate->period);
  return longest;
}

}  // namespace

Api::Api(const std::filesystem::path& database, ServiceSettings settings)
    : backend_(std::make_unique<Backend>(database.string())),
      settings_(std::move(settings)),
      rendered_(std::make_unique<RenderedProfiles>()) {
  if (settings_.verification == Verification::Mail &&
      (settings_.public_url.empty() || !EmailAddress::is_valid(settings_.mail_from) || !settings_.send_mail))
    throw Error(ErrorCode::Usage, "verifying addresses needs a public URL, a From address and a relay for the mail");
}
Api::~Api() = default;

HttpResponse Api::handle(const HttpRequest& request, TimePoint now) {
  std::unique_ptr<ServiceStore> store;
  try {
    store = backend_->lease();
  } catch (const std::exception&) {
    return error_response({503, "unavailable", "the service cannot reach its database now; try again later"});
  }
  struct Return {
    Backend& backend;
    std::unique_ptr<ServiceStore>& store;
    ~Return() {
      if (store) {  // not given back already (before the mails are sent)
        fence(*store, backend.listener.get());
        backend.give_back(std::move(store));
      }
    }
  } give_back{*backend_, store};
  StoredBuckets stored(*store);
  Buckets& buckets = backend_->postgres ? static_cast<Buckets&>(stored) : backend_->memory;
  QueuedMails queued;
  try {
    if (backend_->housekeeping_due(now)) {
      if (backend_->postgres)
        store->forget_buckets(now - longest_period(settings_.rates));
      expire_requests(*store, settings_.quotas, now);
    }
    HttpResponse response = Handler(*store, settings_, buckets, *rendered_, backend_->memo.get(), request, now, queued).run();
    if (queued.mails.empty())
      return response;
    fence(*store, backend_->listener.get());
    backend_->give_back(std::move(store));
    return send_queued(queued, settings_, [&](const std::function<void(ServiceStore&)>& use) {
      std::unique_ptr<ServiceStore> again = backend_->lease();
      Return give_back_again{*backend_, again};
      use(*again);
    }, now);
  } catch (const Refusal& refusal) {
    return error_response(refusal);
  } catch (const Error& error) {
    // Input that passed the checks above but still did not parse.
    int status = error.code() == ErrorCode::Malformed || error.code() == ErrorCode::Unsupported ? 400 : 500;
    return error_response({status, status == 400 ? "bad_request" : "internal", error.what()});
  } catch (const std::exception&) {
    return error_response({500, "internal", "the service failed; nothing was changed"});
  }
}

}  // namespace mailseal::service
