#pragma once
// `mailseal gateway`: an SMTP submission proxy on localhost (DESIGN.md
// section 7). The user's mail client submits to it; it signs every message
// from the profile's addresses, encrypts whenever every recipient has a
// usable key, and relays upstream. Nothing is acknowledged that the upstream
// did not accept.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailseal/common/email_address.h"
#include "mailseal/common/key_access.h"
#include "mailseal/common/secret.h"
#include "mailseal/common/time.h"
#include "mailseal/devices/connect.h"
#include "mailseal/gateway/credentials.h"
#include "mailseal/smtp/relay.h"

namespace mailseal::profile {
class Profile;
}
namespace mailseal::keyservice {
class Client;
}

namespace mailseal::gateway {

// The upstream is an SMTP relay (smtp/relay.h), reached with the same
// client as the key service's challenge mails.
using UpstreamTls = smtp::RelayTls;
using UpstreamOptions = smtp::RelayOptions;
enum class EncryptionPolicy { Opportunistic, Required };

EncryptionPolicy parse_encryption_policy(std::string_view text);  // Error(Usage) otherwise

// The defaults and limits of the gateway's settings: here and nowhere else.
inline constexpr std::string_view kDefaultListen = "127.0.0.1:10587";
inline constexpr std::string_view kDefaultUpstreamTls = "none";
inline constexpr std::string_view kDefaultPolicy = "opportunistic";
inline constexpr std::size_t kDefaultMaxMessageSize = 25u * 1024 * 1024;
inline constexpr std::size_t kMinMessageSize = 1024;
inline constexpr std::chrono::seconds kDefaultTimeout{300};
// How long a client has from connecting to a successful AUTH.
inline constexpr std::chrono::seconds kDefaultAuthTimeout{30};
inline constexpr std::size_t kDefaultMaxSessions = 64;
inline constexpr std::size_t kDefaultMaxSessionsPerClient = 8;
inline constexpr std::chrono::seconds kDefaultRefreshInterval{3600};
// How often the gateway syncs with the key service: often enough that a
// device joining by PIN waits at most this long for its keys.
inline constexpr std::chrono::seconds kDefaultSyncInterval{60};

struct GatewayOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  UpstreamOptions upstream;
  EncryptionPolicy policy = EncryptionPolicy::Opportunistic;
  std::filesystem::path home;                       // the profile's store
  KeyAccess key_access = KeyAccess::unencrypted();  // how to unlock the profile's key files
  std::size_t max_message_size = kDefaultMaxMessageSize;
  // STARTTLS towards the mail client, offered when both are given.
  std::optional<std::filesystem::path> tls_certificate;
  std::optional<std::filesystem::path> tls_key;
  std::chrono::seconds timeout = kDefaultTimeout;  // per read or write, both sides
  // How often a recipient's keys are fetched again from the key service, so
  // that a correspondent's rotation (after removing a device) reaches this
  // gateway without anyone running lookup.
  std::chrono::seconds refresh_interval = kDefaultRefreshInterval;
  // How often the gateway runs devices::sync with the profile's key service
  // (accepting PIN joins, taking key bundles, renewing certificates), once at
  // start and then every interval; 0: never.
  std::chrono::seconds sync_interval = kDefaultSyncInterval;
  // Until a client has authenticated, its reads wait at most until this
  // long after it connected (and never longer than `timeout`).
  std::chrono::seconds auth_timeout = kDefaultAuthTimeout;
  std::size_t max_sessions = kDefaultMaxSessions;
  std::size_t max_sessions_per_client = kDefaultMaxSessionsPerClient;  // per client IP address
  // Where the gateway reports what happens (a message relayed or refused, an
  // upstream failure), one line at a time. The text is raw: it holds words
  // of clients, upstreams and messages, so the receiver escapes it for
  // wherever it shows it. Unset: nothing is reported.
  std::function<void(std::string_view line)> log;
};

// The gateway's settings as a person gives them (`mailseal gateway`'s
// options), each with its default.
struct GatewaySettings {
  std::string listen{kDefaultListen};  // HOST:PORT for the mail clients
  std::string upstream;                // HOST:PORT of the submission server
  std::string upstream_tls{kDefaultUpstreamTls};
  std::string upstream_ca;  // empty: the system's CAs
  std::string policy{kDefaultPolicy};
  std::string tls_certificate;  // with tls_key: STARTTLS towards the mail clients
  std::string tls_key;
  std::size_t max_size = kDefaultMaxMessageSize;
  int timeout = static_cast<int>(kDefaultTimeout.count());           // seconds
  int refresh = static_cast<int>(kDefaultRefreshInterval.count());   // seconds
  int sync = static_cast<int>(kDefaultSyncInterval.count());         // seconds, 0: never
  int auth_timeout = static_cast<int>(kDefaultAuthTimeout.count());  // seconds
  std::size_t max_sessions_per_client = kDefaultMaxSessionsPerClient;
  std::string upstream_user;           // with upstream_password_file: AUTH towards the upstream
  std::string upstream_password_file;  // 0600 (not readable by group or others)
};

// Checks the settings and builds the options from them (the caller adds the
// profile's home and key access). Error(Usage) naming the setting that is
// wrong: an address that is not HOST:PORT, an unknown TLS mode or policy, a
// TLS certificate without its key (or the reverse), a listening address
// other than loopback without them, a size limit below kMinMessageSize, a
// timeout below one second, a negative refresh or sync interval, a per-client cap
// of 0, an upstream user without a password file (or the reverse), a
// password file readable by group or others, or an upstream user with
// --upstream-tls none towards an upstream that is not on loopback.
// Reads the upstream password file.
GatewayOptions gateway_options(const GatewaySettings& settings);

// What one submitted message becomes upstream.
struct Envelope {
  std::string reverse_path;             // MAIL FROM, may be empty
  std::vector<std::string> recipients;  // RCPT TO, in order
};

struct Copy {
  std::vector<std::string> recipients;  // the envelope recipients of this copy
  std::string message;
  bool signed_message = false;
  bool encrypted = false;
};

struct DeliveryPlan {
  std::vector<Copy> copies;
  std::vector<std::string> without_keys;  // recipients no usable certificate was found for
  std::string summary;                    // one line for the log and the SMTP reply
  // Certificates renewed before signing (an admin device's gateway renews
  // those that are due, devices::renew_certificates), and what became of
  // publishing them (the message goes out either way).
  devices::RenewalReport renewal;
};

// When each address was last fetched from the key service (one gateway
// process, shared by its sessions, which deliver at once).
class LookupSchedule {
 public:
  explicit LookupSchedule(std::chrono::seconds interval) : interval_(interval) {}
  // True at `now` when `address` was never fetched, or last fetched the
  // interval or longer before (or after `now`: a clock set back does not
  // stop the refreshes).
  bool due(const EmailAddress& address, TimePoint now) const;
  void fetched(const EmailAddress& address, TimePoint at);

 private:
  std::chrono::seconds interval_;
  mutable std::mutex lock_;
  std::map<EmailAddress, TimePoint> fetched_;
};

// The identity fields of a message, each one strictly read mailbox.
struct SenderFields {
  std::optional<EmailAddress> from;  // absent when there is no From field
  std::vector<EmailAddress> others;  // Sender, Resent-From
};

// Refuses (Error(Malformed), saying why) a message no submitter may send,
// signed or not: a NUL anywhere; a bare CR or LF, or an 8-bit byte in the
// header section (SMTPUTF8 is not offered); more than one From or Sender
// field; a From, Sender or Resent-From field that is not exactly one mailbox
// as mime::parse_mailbox reads it (groups, lists, `<>`, a display name or
// comment holding '@' or '<', an address mailseal cannot parse).
SenderFields check_header_section(std::string_view message);

// Error(RejectedByPolicy) when `address` is one of the profile's and the
// credential may not use it.
void check_sender(profile::Profile& profile, const CredentialInfo& submitter, const EmailAddress& address);
// The same for a MAIL FROM (empty: the null reverse path, allowed). A MAIL
// FROM that is not the profile's is allowed (see docs/gateway.md).
void check_envelope_sender(profile::Profile& profile, const CredentialInfo& submitter, std::string_view reverse_path);

// Decides what to send (after check_header_section): the main copy to the recipients named in To/Cc, and
// for every other envelope recipient (Bcc) a copy of their own, encrypted to
// them alone, so that nobody learns who else was sent it. Certificates come
// from the contacts and learned mail first, then from the key service (a
// lookup) when `service` is given; with `schedule`, an address already known
// is fetched again once its refresh is due (failures are ignored). Messages already signed or encrypted by
// the client, and messages from addresses not in the profile, pass
// unchanged (refused under Required). A From, Sender, Resent-From or MAIL
// FROM of the profile that `submitter` may not use: Error(RejectedByPolicy)
// naming it, whether or not the message would be signed. Error(RejectedByPolicy) under
// Required when some recipient has no usable certificate, naming them.
// Before signing, the profile's mail certificates that are due at `now` are
// renewed (admin devices only) and, with `service`, published and sent to
// the other devices; a failed renewal or publication does not stop the
// message (plan.renewal says what happened).
// `now` is the session's clock: the Date of a message without one, the
// time certificates must be valid at, and when lookups are due.
DeliveryPlan plan_delivery(profile::Profile& profile, const KeyAccess& key_access, EncryptionPolicy policy,
                           const CredentialInfo& submitter, const Envelope& envelope, std::string message,
                           TimePoint now, keyservice::Client* service, LookupSchedule* schedule = nullptr);

class Gateway {
 public:
  explicit Gateway(GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Binds the listening socket; Error(Io) if it cannot. Returns the port.
  int bind();
  // Serves until stop(); returns once every session has ended.
  void run();
  // Safe from any thread (not from a signal handler).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailseal::gateway
