#include "mailseal/service/api.h"

#include <algorithm>
#include <functional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mailseal/common/base64.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/endorsement.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/service/protocol.h"
#include "mailseal/udf/udf.h"
#include "service/storage.h"

namespace mailseal::service {

namespace {

using nlohmann::json;

// Limits on what one request may hold (docs/service.md).
constexpr std::size_t kMaxJsonDepth = 32;
constexpr std::size_t kMaxCertificates = 256;
constexpr std::size_t kMaxDevices = 64;
constexpr std::size_t kMaxRevocations = 16;
constexpr std::size_t kMaxAddresses = 32;
constexpr std::size_t kMaxEndorsementText = 1024 * 1024;
constexpr std::size_t kMaxKeyBytes = 4096;
constexpr std::size_t kMaxNameLength = 100;
constexpr int kMaxPendingRequests = 100;
constexpr int kMaxOpenInvites = 100;
constexpr std::int64_t kMaxInviteSeconds = 7 * 24 * 3600;
constexpr int kDeviceIdBits = 100;

// A refusal: an HTTP status, a stable code for programs, a message for people.
struct Refusal {
  int status;
  std::string code;
  std::string message;
};

[[noreturn]] void refuse(int status, std::string code, std::string message) {
  throw Refusal{status, std::move(code), std::move(message)};
}

HttpResponse json_response(int status, const json& document) {
  return HttpResponse{status, document.dump(-1, ' ', false, json::error_handler_t::replace)};
}

HttpResponse error_response(const Refusal& refusal) {
  return json_response(refusal.status, {{"error", {{"code", refusal.code}, {"message", refusal.message}}}});
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

// nlohmann's parser is iterative, but a hostile document nested thousands of
// levels deep gains nothing: it is refused before parsing.
bool nested_too_deep(std::string_view body) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

json parse_body(const HttpRequest& request) {
  if (!request.content_type.starts_with("application/json"))
    refuse(415, "unsupported_media_type", "the body must be application/json");
  if (request.body.size() > kMaxBodyBytes)
    refuse(413, "too_large", "the body is larger than the service accepts");
  if (nested_too_deep(request.body))
    refuse(400, "bad_json", "the JSON document is nested too deeply");
  json document = json::parse(request.body, nullptr, false);
  if (document.is_discarded())
    refuse(400, "bad_json", "the body is not valid JSON");
  if (!document.is_object())
    refuse(400, "bad_json", "the body must be a JSON object");
  return document;
}

// Typed field access with a clear refusal.
const json& field(const json& document, const char* name) {
  auto found = document.find(name);
  if (found == document.end())
    refuse(400, "missing_field", fmt::format("the field '{}' is missing", name));
  return *found;
}

std::string string_field(const json& document, const char* name, std::size_t max_length) {
  const json& value = field(document, name);
  if (!value.is_string())
    refuse(400, "bad_field", fmt::format("'{}' must be a string", name));
  std::string text = value.get<std::string>();
  if (text.size() > max_length)
    refuse(400, "bad_field", fmt::format("'{}' is too long", name));
  return text;
}

std::optional<std::string> optional_string(const json& document, const char* name, std::size_t max_length) {
  auto found = document.find(name);
  if (found == document.end() || found->is_null())
    return std::nullopt;
  return string_field(document, name, max_length);
}

Bytes base64_field(const json& value, const char* name, std::size_t max_bytes) {
  if (!value.is_string() || value.get_ref<const std::string&>().size() > max_bytes / 3 * 4 + 4)
    refuse(400, "bad_field", fmt::format("'{}' must be base64 of at most {} bytes", name, max_bytes));
  try {
    Bytes out = decode_base64(value.get_ref<const std::string&>());
    if (out.empty())
      refuse(400, "bad_field", fmt::format("'{}' is empty", name));
    return out;
  } catch (const Error&) {
    refuse(400, "bad_field", fmt::format("'{}' is not valid base64", name));
  }
}

const json& array_field(const json& document, const char* name, std::size_t max_items) {
  const json& value = field(document, name);
  if (!value.is_array() || value.size() > max_items)
    refuse(400, "bad_field", fmt::format("'{}' must be an array of at most {} items", name, max_items));
  return value;
}

crypto::Certificate certificate_from(const json& value, const char* name) {
  Bytes der = base64_field(value, name, kMaxBodyBytes);
  try {
    return crypto::Certificate::from_der(der);
  } catch (const Error& error) {
    refuse(400, "bad_certificate", fmt::format("'{}' is not a certificate: {}", name, error.what()));
  }
}

std::string full_fingerprint(const crypto::Certificate& certificate) {
  return certificate.key_fingerprint().to_string(udf::kFullBits);
}

bool is_hex(std::string_view text, std::size_t length) {
  return text.size() == length && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

class Handler {
 public:
  Handler(ServiceStore& store, const HttpRequest& request, std::int64_t now)
      : store_(store), request_(request), now_(now) {}

  HttpResponse run() {
    auto segments = path_segments(request_.target);
    const std::string& method = request_.method;
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
        {"GET",
         {"v1", "health"},
         [&] {
           return json_response(200, {{"status", "ok"}});
         }},
        {"GET", {"v1", "addresses", "*"}, [&] { return get_address(segments[2]); }},
        {"GET", {"v1", "accounts", "*"}, [&] { return get_account(segments[2]); }},
        {"PUT", {"v1", "accounts", "*"}, [&] { return publish(segments[2]); }},
        {"GET", {"v1", "escrow", "*"}, [&] { return get_escrow(segments[2]); }},
        {"POST", {"v1", "accounts", "*", "invites"}, [&] { return add_invite(segments[2]); }},
        {"POST", {"v1", "accounts", "*", "requests"}, [&] { return join(segments[2]); }},
        {"GET", {"v1", "accounts", "*", "requests"}, [&] { return pending(segments[2]); }},
        {"POST", {"v1", "accounts", "*", "requests", "*"}, [&] { return decide(segments[2], segments[4]); }},
        {"GET", {"v1", "requests", "*"}, [&] { return request_status(segments[2]); }},
        {"PUT",
         {"v1", "accounts", "*", "devices", "*", "bundle"},
         [&] { return put_bundle(segments[2], segments[4]); }},
        {"GET",
         {"v1", "accounts", "*", "devices", "*", "bundle"},
         [&] { return get_bundle(segments[2], segments[4]); }},
    };
    bool path_known = false;
    for (const auto& route : routes) {
      if (is(route.pattern)) {
        path_known = true;
        if (route.method == method)
          return route.run();
      }
    }
    if (path_known)
      refuse(405, "method_not_allowed", fmt::format("{} is not allowed here", escape_for_terminal(method)));
    refuse(404, "not_found", "no such resource");
  }

 private:
  AccountRecord account_or_404(const std::string& fingerprint) {
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
    if (authorization.time < now_ - kMaxClockSkewSeconds || authorization.time > now_ + kMaxClockSkewSeconds)
      refuse(401, "expired", "the request's time is too far from the service's clock (expired or replayed?)");
    if (!verify_authorization(key, authorization, request_.method, request_.target, as_bytes(request_.body)))
      refuse(401, "bad_signature", "the request's signature does not verify");
    if (!store_.remember_nonce(scope + "/" + authorization.key, authorization.nonce, now_,
                               now_ - 2 * kMaxClockSkewSeconds))
      refuse(401, "replayed", "this request was seen before (replayed)");
  }

  void authenticate_root(const AccountRecord& account) {
    authenticate(crypto::Certificate::from_der(account.root).public_key(), kRootKey, account.fingerprint);
  }

  HttpResponse public_profile(const AccountRecord& account) {
    json document = json::parse(account.document);
    document["updated_at"] = account.updated_at;
    return json_response(200, document);
  }

  HttpResponse get_address(const std::string& text) {
    EmailAddress address = EmailAddress::parse("nobody@invalid.invalid");
    try {
      address = EmailAddress::parse(text);
    } catch (const Error&) {
      refuse(400, "bad_address", "not an email address");
    }
    auto account = store_.account_for_address(address.str());
    if (!account)
      refuse(404, "unknown_address", "no profile is published here for that address");
    return public_profile(account_or_404(*account));
  }

  HttpResponse get_account(const std::string& fingerprint) { return public_profile(account_or_404(fingerprint)); }

  HttpResponse publish(const std::string& fingerprint) {
    json body = parse_body(request_);
    crypto::Certificate root = certificate_from(field(body, "root"), "root");
    if (!root.is_ca() || !root.is_self_issued() || !root.is_issued_by(root))
      refuse(400, "bad_root", "the root must be a self-signed CA certificate");
    if (full_fingerprint(root) != fingerprint)
      refuse(400, "bad_root", "the root's key fingerprint is not the one in the path");
    if (auto existing = store_.account(fingerprint); existing && existing->root != root.der())
      refuse(409, "root_changed", "a profile's root certificate cannot be replaced; publish a rotation instead");
    authenticate(root.public_key(), kRootKey, fingerprint);

    std::vector<std::string> addresses;
    for (const auto& constraint : crypto::permitted_email_constraints(root)) {
      try {
        addresses.push_back(EmailAddress::parse(constraint).str());
      } catch (const Error&) {
        refuse(400, "bad_root", "the root's name constraints must be email addresses");
      }
    }
    if (addresses.empty() || addresses.size() > kMaxAddresses)
      refuse(400, "bad_root", "the root must be constrained to between 1 and 32 addresses");
    for (const auto& address : addresses) {
      auto owner = store_.account_for_address(address);
      if (owner && *owner != fingerprint)
        refuse(409, "address_taken", fmt::format("{} is published by another profile", address));
    }

    json document = {{"fingerprint", fingerprint}, {"root", encode_base64(root.der())}, {"addresses", addresses}};
    json certificates = json::array();
    for (const auto& item : array_field(body, "certificates", kMaxCertificates)) {
      crypto::Certificate certificate = certificate_from(item, "certificates");
      if (!certificate.is_issued_by(root))
        refuse(400, "bad_certificate", "every certificate must be issued by the root");
      certificates.push_back(encode_base64(certificate.der()));
    }
    document["certificates"] = certificates;

    std::string endorsements = optional_string(body, "endorsements", kMaxEndorsementText).value_or("");
    if (!endorsements.empty()) {
      try {
        (void)crypto::Certificate::read_all(as_bytes(endorsements));
      } catch (const Error&) {
        refuse(400, "bad_field", "'endorsements' must be PEM certificates");
      }
    }
    document["endorsements"] = endorsements;

    json revocations = json::array();
    for (const auto& item : array_field(body, "revocations", kMaxRevocations)) {
      Bytes der = base64_field(item, "revocations", kMaxBodyBytes);
      try {
        if (!crypto::RevocationList::read(der).is_issued_by(root))
          refuse(400, "bad_revocation", "every revocation list must be issued by the root");
      } catch (const Error&) {
        refuse(400, "bad_revocation", "'revocations' must hold DER revocation lists");
      }
      revocations.push_back(encode_base64(der));
    }
    document["revocations"] = revocations;

    json devices = json::array();
    std::vector<DeviceEntry> entries;
    for (const auto& item : array_field(body, "devices", kMaxDevices)) {
      if (!item.is_object())
        refuse(400, "bad_device", "each device is an object");
      crypto::Certificate signature = certificate_from(field(item, "signature_certificate"), "signature_certificate");
      crypto::Certificate agreement = certificate_from(field(item, "agreement_certificate"), "agreement_certificate");
      if (!signature.is_issued_by(root) || !agreement.is_issued_by(root))
        refuse(400, "bad_device", "device certificates must be issued by the root");
      std::string device_id = signature.public_key().fingerprint().to_string(kDeviceIdBits);
      if (string_field(item, "device_id", 64) != device_id)
        refuse(400, "bad_device", "a device id is the fingerprint of its signature key");
      std::string status = string_field(item, "status", 16);
      if (status != "active" && status != "removed")
        refuse(400, "bad_device", "a device's status is active or removed");
      std::string role = string_field(item, "role", 16);
      if (role != "admin" && role != "full" && role != "read")
        refuse(400, "bad_device", "a device's role is admin, full or read");
      if (std::any_of(entries.begin(), entries.end(), [&](const DeviceEntry& e) { return e.device_id == device_id; }))
        refuse(400, "bad_device", "a device is listed twice");
      entries.push_back({device_id, signature.der(), status});
      devices.push_back({{"device_id", device_id},
                         {"name", string_field(item, "name", kMaxNameLength)},
                         {"role", role},
                         {"status", status},
                         {"signature_certificate", encode_base64(signature.der())},
                         {"agreement_certificate", encode_base64(agreement.der())}});
    }
    document["devices"] = devices;

    AccountRecord account{fingerprint, root.der(), document.dump(), std::nullopt, std::nullopt, now_};
    if (auto escrow = body.find("escrow"); escrow != body.end() && !escrow->is_null()) {
      if (!escrow->is_object())
        refuse(400, "bad_field", "'escrow' is {\"id\", \"data\"}");
      std::string escrow_id = string_field(*escrow, "id", 128);
      if (auto other = store_.account_for_escrow(escrow_id);
          escrow_id.empty() || (other && other->fingerprint != fingerprint))
        refuse(409, "bad_escrow", "that escrow id belongs to another profile");
      account.escrow = base64_field(field(*escrow, "data"), "data", kMaxBodyBytes);
      account.escrow_id = escrow_id;
    }
    store_.save_account(account, addresses, entries);
    return json_response(200, {{"fingerprint", fingerprint}, {"addresses", addresses}, {"updated_at", now_}});
  }

  // Public: the escrow is sealed with a key only the profile's root secret
  // gives, and found by an id derived from that secret, which is all a
  // restoring device has.
  HttpResponse get_escrow(const std::string& escrow_id) {
    auto account = store_.account_for_escrow(escrow_id);
    if (!account || !account->escrow)
      refuse(404, "no_escrow", "no escrow with that id is kept here");
    return json_response(200, {{"fingerprint", account->fingerprint}, {"escrow", encode_base64(*account->escrow)}});
  }

  HttpResponse add_invite(const std::string& fingerprint) {
    AccountRecord account = account_or_404(fingerprint);
    json body = parse_body(request_);
    authenticate_root(account);
    std::string pin_id = string_field(body, "pin_id", 128);
    const json& expires = field(body, "expires_at");
    if (!expires.is_number_integer())
      refuse(400, "bad_field", "'expires_at' is Unix seconds");
    std::int64_t expires_at = expires.get<std::int64_t>();
    if (expires_at <= now_ || expires_at > now_ + kMaxInviteSeconds)
      refuse(400, "bad_field", "an invitation expires within a week");
    if (pin_id.empty() || store_.open_invites(fingerprint, now_) >= kMaxOpenInvites)
      refuse(429, "too_many", "too many open invitations");
    try {
      store_.add_invite(pin_id, fingerprint, expires_at);
    } catch (const Error&) {
      refuse(409, "duplicate", "that invitation exists already");
    }
    return json_response(201, {{"pin_id", pin_id}, {"expires_at", expires_at}});
  }

  HttpResponse join(const std::string& fingerprint) {
    AccountRecord account = account_or_404(fingerprint);
    json body = parse_body(request_);
    std::string name = string_field(body, "device_name", kMaxNameLength);
    Bytes signature_key = base64_field(field(body, "signature_key"), "signature_key", kMaxKeyBytes);
    Bytes agreement_key = base64_field(field(body, "agreement_key"), "agreement_key", kMaxKeyBytes);
    std::string device_nonce = string_field(body, "device_nonce", 64);
    if (name.empty() || !is_hex(device_nonce, 32))
      refuse(400, "bad_field", "a device name and a 16-byte hex nonce are needed");
    crypto::PublicKey key = [&] {
      try {
        crypto::PublicKey::from_spki_der(agreement_key);
        return crypto::PublicKey::from_spki_der(signature_key);
      } catch (const Error&) {
        refuse(400, "bad_key", "the device keys must be SubjectPublicKeyInfo");
      }
    }();
    authenticate(key, kJoiningDeviceKey, fingerprint);
    if (store_.pending_count(fingerprint) >= kMaxPendingRequests)
      refuse(429, "too_many", "too many requests are waiting for this profile");
    auto pin_id = optional_string(body, "pin_id", 128);
    auto pin_mac = optional_string(body, "pin_mac", 256);
    if (pin_id.has_value() != pin_mac.has_value())
      refuse(400, "bad_field", "'pin_id' and 'pin_mac' go together");
    if (pin_id) {
      switch (store_.use_invite(*pin_id, fingerprint, now_)) {
        case InviteUse::Accepted:
          break;
        case InviteUse::Unknown:
          refuse(403, "bad_pin", "the PIN is wrong or was not issued for this profile");
        case InviteUse::Used:
          refuse(403, "pin_used", "the PIN was used already");
        case InviteUse::Expired:
          refuse(403, "pin_expired", "the PIN has expired");
      }
    }
    std::string id = to_hex(crypto::random_bytes(16));
    std::string service_nonce = to_hex(crypto::random_bytes(16));
    json document = {{"request_id", id},
                     {"device_name", name},
                     {"signature_key", encode_base64(signature_key)},
                     {"agreement_key", encode_base64(agreement_key)},
                     {"device_nonce", device_nonce},
                     {"service_nonce", service_nonce},
                     {"pin_id", pin_id ? json(*pin_id) : json(nullptr)},
                     {"pin_mac", pin_mac ? json(*pin_mac) : json(nullptr)},
                     {"created_at", now_}};
    store_.add_request({id, fingerprint, document.dump(), signature_key, "pending", std::nullopt, now_});
    return json_response(201, {{"request_id", id}, {"service_nonce", service_nonce}});
  }

  HttpResponse pending(const std::string& fingerprint) {
    AccountRecord account = account_or_404(fingerprint);
    authenticate_root(account);
    json requests = json::array();
    for (const auto& request : store_.pending_requests(fingerprint))
      requests.push_back(json::parse(request.document));
    return json_response(200, {{"requests", requests}});
  }

  HttpResponse decide(const std::string& fingerprint, const std::string& id) {
    AccountRecord account = account_or_404(fingerprint);
    json body = parse_body(request_);
    authenticate_root(account);
    auto request = store_.request(id);
    if (!request || request->account != fingerprint)
      refuse(404, "unknown_request", "no such request for this profile");
    std::string decision = string_field(body, "decision", 16);
    json document = json::parse(request->document);
    std::optional<Bytes> bundle;
    if (decision == "accept") {
      bundle = base64_field(field(body, "bundle"), "bundle", kMaxBodyBytes);
      // The device's certificates, so that it can find itself among the
      // bundle's recipients; they must certify the keys it asked for.
      crypto::Certificate signature = certificate_from(field(body, "signature_certificate"), "signature_certificate");
      crypto::Certificate agreement = certificate_from(field(body, "agreement_certificate"), "agreement_certificate");
      crypto::Certificate root = crypto::Certificate::from_der(account.root);
      if (!signature.is_issued_by(root) || !agreement.is_issued_by(root) ||
          signature.public_key().spki_der() != request->signature_key ||
          encode_base64(agreement.public_key().spki_der()) != document.value("agreement_key", ""))
        refuse(400, "bad_certificate", "the certificates must be the root's, for the keys the device sent");
      document["signature_certificate"] = encode_base64(signature.der());
      document["agreement_certificate"] = encode_base64(agreement.der());
    } else if (decision != "reject") {
      refuse(400, "bad_field", "'decision' is accept or reject");
    }
    if (!store_.decide(id, decision == "accept" ? "accepted" : "rejected", document.dump(), bundle))
      refuse(409, "decided", "the request was decided already");
    return json_response(200, {{"request_id", id}, {"status", decision == "accept" ? "accepted" : "rejected"}});
  }

  HttpResponse request_status(const std::string& id) {
    auto request = store_.request(id);
    if (!request)
      refuse(404, "unknown_request", "no such request");
    authenticate(crypto::PublicKey::from_spki_der(request->signature_key), kJoiningDeviceKey, request->account);
    json document = json::parse(request->document);
    json answer = {{"request_id", id}, {"status", request->status}};
    answer["bundle"] = request->bundle ? json(encode_base64(*request->bundle)) : json(nullptr);
    answer["signature_certificate"] = document.value("signature_certificate", json(nullptr));
    answer["agreement_certificate"] = document.value("agreement_certificate", json(nullptr));
    return json_response(200, answer);
  }

  HttpResponse put_bundle(const std::string& fingerprint, const std::string& device_id) {
    AccountRecord account = account_or_404(fingerprint);
    json body = parse_body(request_);
    authenticate_root(account);
    auto device = store_.device(fingerprint, device_id);
    if (!device)
      refuse(404, "unknown_device", "no such device in the published profile");
    if (device->status != "active")
      refuse(409, "device_removed", "the device was removed");
    Bytes bundle = base64_field(field(body, "bundle"), "bundle", kMaxBodyBytes);
    store_.put_bundle(fingerprint, device_id, bundle, now_);
    return json_response(200, {{"device_id", device_id}, {"updated_at", now_}});
  }

  HttpResponse get_bundle(const std::string& fingerprint, const std::string& device_id) {
    account_or_404(fingerprint);
    auto device = store_.device(fingerprint, device_id);
    if (!device)
      refuse(404, "unknown_device", "no such device in the published profile");
    authenticate(crypto::Certificate::from_der(device->signature_certificate).public_key(), device_id, fingerprint);
    if (device->status != "active")
      refuse(403, "device_removed", "this device was removed from the profile");
    auto bundle = store_.bundle(fingerprint, device_id);
    if (!bundle)
      refuse(404, "no_bundle", "no key bundle for this device yet");
    return json_response(200, {{"device_id", device_id}, {"bundle", encode_base64(*bundle)}});
  }

  ServiceStore& store_;
  const HttpRequest& request_;
  std::int64_t now_;
};

}  // namespace

Api::Api(const std::filesystem::path& database) : store_(std::make_unique<ServiceStore>(database)) {}
Api::~Api() = default;

HttpResponse Api::handle(const HttpRequest& request, std::int64_t now) {
  std::lock_guard lock(mutex_);
  try {
    return Handler(*store_, request, now).run();
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
