#include "gateway/internal/session.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include <fmt/format.h>

#include "mailseal/common/base64.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/error.h"
#include "mailseal/common/text.h"
#include "mailseal/devices/key_service.h"
#include "mailseal/keyservice/client.h"
#include "mailseal/profile/profile.h"

namespace mailseal::gateway::internal {

namespace {

// A session that keeps sending nonsense is not a mail client.
constexpr int kMaxErrors = 20;
// Guessing a 256-bit secret is hopeless; a client that fails three times is
// misconfigured or hostile.
constexpr int kMaxAuthFailures = 3;

std::string describe_recipients(const std::vector<std::string>& recipients) {
  return recipients.size() == 1 ? recipients[0] : fmt::format("{} recipients", recipients.size());
}

}  // namespace

void Session::log(std::string_view text) const {
  if (submitter_) {
    report(shared_.options, text);
    return;
  }
  // Before AUTH, anyone who reaches the port could make lines: at most
  // kLinesPerMinute a minute, and then how many were left out.
  std::size_t suppressed = 0;
  bool write = false;
  {
    std::lock_guard lock(shared_.unauthenticated_log.lock);
    UnauthenticatedLog& limit = shared_.unauthenticated_log;
    auto now = std::chrono::steady_clock::now();
    if (now - limit.window_start >= std::chrono::minutes(1)) {
      suppressed = std::exchange(limit.suppressed, 0);
      limit.window_start = now;
      limit.written = 0;
    }
    write = limit.written < UnauthenticatedLog::kLinesPerMinute;
    if (write)
      ++limit.written;
    else
      ++limit.suppressed;
  }
  if (suppressed > 0)
    report(shared_.options,
           fmt::format("{} more lines about unauthenticated clients were left out of the log", suppressed));
  if (write)
    report(shared_.options, text);
}

void Session::send(const Reply& answer) {
  if (answer.code >= 500 && answer.code != 554 && answer.code != 550 && answer.code != 552)
    ++errors_;
  if (answer.code == 500 || answer.code == 501)
    protocol_error_ = true;
  client_.write(answer.serialize());
}

bool Session::within_auth_time() {
  auto left = std::chrono::ceil<std::chrono::seconds>(auth_deadline_ - std::chrono::steady_clock::now());
  if (left <= std::chrono::seconds(0)) {
    send(421, "4.7.0 authentication took too long, closing the connection");
    return false;
  }
  client_.set_timeout(std::min(left, shared_.options.timeout));
  return true;
}

// One command line: false when the session ends.
bool Session::command(const Line& line) {
  if (looks_like_http(line.text)) {
    // A web page speaking through a browser: no reply, nothing it could use.
    log("a client sent an HTTP request line or header field; connection closed");
    return false;
  }
  if (line.status == Line::Status::TooLong) {
    send(500, "5.5.2 line too long");
    return true;
  }
  if (!line.crlf || line.text.find_first_of(std::string_view("\r\0", 2)) != std::string::npos) {
    send(500, "5.5.2 a command line must end with CRLF and hold no bare CR, LF or NUL");
    return true;
  }
  std::optional<Command> command = parse_command(line.text);
  if (!command) {
    send(500, "5.5.2 syntax error: expected a command");
    return true;
  }
  const std::string& verb = command->verb;
  if (verb == "EHLO" || verb == "HELO")
    return hello(*command, verb == "EHLO");
  if (verb == "STARTTLS")
    return start_tls(*command);
  if (verb == "AUTH")
    return authenticate(*command);
  if (verb == "MAIL") {
    mail(*command);
  } else if (verb == "RCPT") {
    recipient(*command);
  } else if (verb == "DATA") {
    return data(*command);
  } else if (verb == "RSET") {
    transaction_.reset();
    send(250, "2.0.0 reset");
  } else if (verb == "NOOP") {
    send(250, "2.0.0 ok");
  } else if (verb == "QUIT") {
    send(221, "2.0.0 bye");
    return false;
  } else if (verb == "VRFY") {
    send(252, "2.5.0 cannot verify, but will relay");
  } else if (verb == "HELP") {
    send(214, "2.0.0 mailseal gateway: submit as to your provider; messages are signed and encrypted on the way");
  } else if (verb == "BDAT") {
    send(502, "5.5.1 CHUNKING is not offered");
  } else {
    send(500, fmt::format("5.5.1 unknown command {}", verb));
  }
  return true;
}

Line Session::read_line(std::size_t limit) {
  line_deadline_ = std::chrono::steady_clock::now() + shared_.options.timeout;
  return client_.read_line(limit);
}

void Session::run() {
  auth_deadline_ = std::chrono::steady_clock::now() + shared_.options.auth_timeout;
  // Every line must be complete within the timeout, and before AUTH within
  // the time to authenticate, however slowly its bytes come.
  client_.set_time_left([this] {
    auto deadline = submitter_ ? line_deadline_ : std::min(line_deadline_, auth_deadline_);
    return std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  });
  send(220, fmt::format("{} ESMTP mailseal gateway", shared_.hostname));
  while (true) {
    if (errors_ > kMaxErrors) {
      send(421, "4.7.0 too many errors, closing the connection");
      break;
    }
    if (!submitter_ && !within_auth_time())
      break;
    Line line;
    try {
      line = read_line(kMaxCommandLine);
    } catch (const Error&) {
      if (submitter_)
        throw;
      // Silent until the time to authenticate ran out: told, then closed.
      send(421, "4.7.0 authentication took too long, closing the connection");
      break;
    }
    if (line.status == Line::Status::End || !command(line))
      break;
  }
  if (upstream_)
    upstream_->quit();
}

bool Session::ensure_upstream() {
  if (upstream_ && upstream_->usable())
    return true;
  upstream_.reset();
  try {
    upstream_ =
        Upstream::open(shared_.options.upstream, shared_.upstream_tls, shared_.hostname, shared_.options.timeout);
    return true;
  } catch (const Error& error) {
    log(fmt::format("upstream unavailable: {}", error.what()));
    return false;
  }
}

bool Session::hello(const Command& command, bool extended) {
  if (command.argument.empty()) {
    send(501, "5.5.4 give your host name");
    return true;
  }
  client_name_ = command.argument;
  transaction_.reset();
  if (!extended) {
    send(250, shared_.hostname);
    return true;
  }
  Reply answer{250, {fmt::format("{} greets {}", shared_.hostname, command.argument)}};
  answer.lines.push_back(fmt::format("SIZE {}", shared_.options.max_message_size));
  answer.lines.push_back("8BITMIME");
  answer.lines.push_back("PIPELINING");
  answer.lines.push_back("ENHANCEDSTATUSCODES");
  if (shared_.client_tls != nullptr && !client_.secure())
    answer.lines.push_back("STARTTLS");
  // The gateway's own credentials; in clear only over loopback.
  if (!submitter_ && auth_offered())
    answer.lines.push_back("AUTH PLAIN LOGIN");
  send(answer);
  return true;
}

bool Session::start_tls(const Command& command) {
  if (shared_.client_tls == nullptr) {
    send(502, "5.5.1 STARTTLS is not offered (start the gateway with --tls-cert and --tls-key)");
    return true;
  }
  if (!command.argument.empty()) {
    send(501, "5.5.4 STARTTLS takes no argument");
    return true;
  }
  if (client_.secure()) {
    send(503, "5.5.1 TLS is already active");
    return true;
  }
  send(220, "2.0.0 ready to start TLS");
  try {
    client_.start_tls_server(shared_.client_tls);
  } catch (const Error& error) {
    log(error.what());
    return false;
  }
  // RFC 3207 section 4.2: forget everything learned before the handshake.
  client_name_.reset();
  transaction_.reset();
  submitter_.reset();
  return true;
}

std::optional<std::string> Session::auth_response(bool& end) {
  Line line = read_line(kMaxCommandLine);
  if (line.status == Line::Status::End) {
    end = true;
    return std::nullopt;
  }
  if (line.status == Line::Status::TooLong || !line.crlf) {
    send(500, "5.5.2 an AUTH line must end with CRLF and be at most 4096 octets; authentication cancelled");
    return std::nullopt;
  }
  if (line.text == "*") {
    // RFC 4954 section 4: the client cancelled; not a protocol error.
    client_.write(reply(501, "5.7.0 authentication cancelled").serialize());
    return std::nullopt;
  }
  return std::move(line.text);
}

namespace {

// Decoded base64 text of an AUTH exchange; nullopt when it is not base64.
std::optional<std::string> decode_auth(std::string_view text) {
  try {
    Bytes bytes = decode_base64(text);
    std::string out(bytes.begin(), bytes.end());
    secure_wipe(bytes.data(), bytes.size());
    return out;
  } catch (const Error&) {
    return std::nullopt;
  }
}

// RFC 4616: [authzid] NUL authcid NUL passwd. False when it is not that.
// `other_identity`: an authzid other than the authcid, which fails the
// authentication (a credential acts only for itself).
bool split_plain(const std::string& decoded, std::string& name, std::string& secret, bool& other_identity) {
  std::size_t first = decoded.find('\0');
  std::size_t second = first == std::string::npos ? std::string::npos : decoded.find('\0', first + 1);
  if (second == std::string::npos || decoded.find('\0', second + 1) != std::string::npos)
    return false;
  name = decoded.substr(first + 1, second - first - 1);
  secret = decoded.substr(second + 1);
  other_identity = first != 0 && decoded.substr(0, first) != name;
  return true;
}

}  // namespace

bool Session::authenticate(const Command& command) {
  if (!client_name_) {
    send(503, "5.5.1 say EHLO first");
    return true;
  }
  if (submitter_) {
    send(503, "5.5.1 already authenticated");
    return true;
  }
  if (transaction_) {
    send(503, "5.5.1 AUTH is not allowed during a mail transaction");
    return true;
  }
  if (!auth_offered()) {
    send(538, "5.7.11 encryption required: STARTTLS first");
    return true;
  }
  std::string mechanism = ascii_upper(command.argument.substr(0, command.argument.find(' ')));
  std::string initial =
      command.argument.find(' ') == std::string::npos ? "" : command.argument.substr(command.argument.find(' ') + 1);
  bool end = false, other_identity = false;
  std::string name, secret;
  if (mechanism == "PLAIN") {
    std::optional<std::string> response = initial;
    if (initial.empty()) {
      send(334, "");
      if (!(response = auth_response(end)))
        return !end;
    }
    std::optional<std::string> decoded = decode_auth(*response == "=" ? "" : *response);
    if (!decoded || !split_plain(*decoded, name, secret, other_identity)) {
      send(501, "5.5.2 AUTH PLAIN needs base64 of authzid NUL user NUL password");
      return true;
    }
  } else if (mechanism == "LOGIN") {
    std::optional<std::string> user = initial;
    if (initial.empty()) {
      send(334, "VXNlcm5hbWU6");  // "Username:"
      if (!(user = auth_response(end)))
        return !end;
    }
    send(334, "UGFzc3dvcmQ6");  // "Password:"
    std::optional<std::string> password = auth_response(end);
    if (!password)
      return !end;
    std::optional<std::string> user_text = decode_auth(*user), password_text = decode_auth(*password);
    if (!user_text || !password_text) {
      send(501, "5.5.2 AUTH LOGIN needs the user name and password in base64");
      return true;
    }
    name = *user_text;
    secret = *password_text;
  } else {
    send(504, "5.5.4 unrecognized authentication mechanism; use PLAIN or LOGIN");
    return true;
  }
  std::optional<ProvenCredential> found;
  if (shared_.check_credential && !other_identity) {
    try {
      found = shared_.check_credential(name, secret);
    } catch (const Error& error) {
      log(fmt::format("cannot check a credential: {}", error.what()));
      send(454, "4.7.0 the gateway cannot check credentials now; try again later");
      return true;
    }
  }
  secure_wipe(secret.data(), secret.size());
  if (!found) {
    log("authentication failed");
    if (++auth_failures_ >= kMaxAuthFailures) {
      send(421, "4.7.0 too many failed authentications, closing the connection");
      return false;
    }
    send(535, "5.7.8 authentication credentials invalid");
    return true;
  }
  submitter_ = std::move(found);
  if (shared_.authenticated)
    shared_.authenticated(client_);
  client_.set_timeout(shared_.options.timeout);
  send(235, "2.7.0 authentication successful");
  return true;
}

void Session::mail(const Command& command) {
  if (!client_name_) {
    send(503, "5.5.1 say EHLO first");
    return;
  }
  if (protocol_error_) {
    send(503, "5.5.1 this session made a protocol error earlier; nothing more is relayed on it (reconnect)");
    return;
  }
  if (!submitter_) {
    send(530, "5.7.0 Authentication required");
    return;
  }
  if (transaction_) {
    send(503, "5.5.1 a transaction is already open (RSET first)");
    return;
  }
  try {
    if (credential_revoked())
      return;
  } catch (const Error&) {
    // The store cannot be read now: deliver() checks again before anything
    // is signed, and answers 451 if it still cannot.
    profile_.reset();
  }
  PathArgument path;
  try {
    path = parse_path_argument(command.argument, "FROM");
  } catch (const Error& error) {
    send(501, fmt::format("5.5.4 {}", error.what()));
    return;
  }
  if (!path.path.empty() && !EmailAddress::is_valid(path.path)) {
    send(553, "5.1.7 the sender address is not valid");
    return;
  }
  if (!sender_allowed(path.path))
    return;
  Transaction transaction{path.path, {}, false};
  for (const auto& [keyword, value] : path.parameters) {
    if (keyword == "SIZE") {
      auto size = parse_size_parameter(value);
      if (!size) {
        send(501, "5.5.4 SIZE needs a number");
        return;
      }
      if (*size > shared_.options.max_message_size) {
        send(552,
             fmt::format("5.3.4 the message is larger than the limit of {} bytes", shared_.options.max_message_size));
        return;
      }
    } else if (keyword == "BODY") {
      if (value == "8BITMIME" || value == "8bitmime") {
        transaction.eight_bit = true;
      } else if (value != "7BIT" && value != "7bit") {
        send(501, "5.5.4 BODY must be 7BIT or 8BITMIME");
        return;
      }
    } else if (keyword != "AUTH") {  // RFC 4954 section 5: AUTH= may be ignored
      send(555, fmt::format("5.5.4 unsupported parameter {}", keyword));
      return;
    }
  }
  transaction_ = std::move(transaction);
  send(250, "2.1.0 sender ok");
}

// A MAIL FROM of the profile that the credential may not use: 550 at once.
// (plan_delivery checks it again; when the profile cannot be read now, that
// check decides after DATA.)
bool Session::sender_allowed(const std::string& reverse_path) {
  try {
    check_envelope_sender(profile(), submitter_->info, reverse_path);
  } catch (const Error& error) {
    if (error.code() != ErrorCode::RejectedByPolicy) {
      profile_.reset();
      return true;
    }
    send(550, fmt::format("5.7.1 {}", error.what()));
    return false;
  }
  return true;
}

bool Session::credential_revoked() {
  if (still_valid(profile(), *submitter_))
    return false;
  const std::string name = submitter_->info.name;
  log(fmt::format("the credential '{}' was removed or replaced; the session must authenticate again", name));
  send(530, fmt::format("5.7.0 Authentication required: the credential '{}' was removed or replaced since this "
                        "session authenticated; nothing was relayed (authenticate again)",
                        name));
  submitter_.reset();
  // A fresh time to authenticate: the old deadline passed long ago.
  auth_deadline_ = std::chrono::steady_clock::now() + shared_.options.auth_timeout;
  return true;
}

void Session::recipient(const Command& command) {
  if (!transaction_) {
    send(503, "5.5.1 MAIL first");
    return;
  }
  PathArgument path;
  try {
    path = parse_path_argument(command.argument, "TO");
  } catch (const Error& error) {
    send(501, fmt::format("5.5.4 {}", error.what()));
    return;
  }
  if (!path.parameters.empty()) {
    send(555, "5.5.4 RCPT parameters are not supported");
    return;
  }
  if (!EmailAddress::is_valid(path.path)) {
    send(553, "5.1.3 the recipient address is not valid");
    return;
  }
  if (transaction_->recipients.size() >= kMaxRecipients) {
    send(452, "4.5.3 too many recipients; send the rest in another message");
    return;
  }
  transaction_->recipients.push_back(EmailAddress::parse(path.path).str());
  send(250, "2.1.5 recipient ok");
}

bool Session::data(const Command& command) {
  if (!command.argument.empty()) {
    send(501, "5.5.4 DATA takes no argument");
    return true;
  }
  if (!transaction_ || transaction_->recipients.empty()) {
    send(503, "5.5.1 no recipients (RCPT first)");
    return true;
  }
  if (protocol_error_) {
    transaction_.reset();
    send(503, "5.5.1 this session made a protocol error earlier; nothing more is relayed on it (reconnect)");
    return true;
  }
  send(354, "end the message with a line holding only a dot");
  DataReader reader(shared_.options.max_message_size);
  while (true) {
    Line line = read_line(kMaxTextLine - 2);
    if (line.status == Line::Status::End) {
      // Dropped mid-message: nothing is relayed.
      log("the client left in the middle of a message; nothing was relayed");
      return false;
    }
    if (reader.feed(line.text, line.status == Line::Status::TooLong, line.crlf))
      break;
  }
  if (reader.over_size()) {
    transaction_.reset();
    send(552, fmt::format("5.3.4 the message is larger than the limit of {} bytes", shared_.options.max_message_size));
    return true;
  }
  if (reader.bare_line_ending()) {
    // SMTP smuggling: what a bare LF or CR might end is never trusted.
    transaction_.reset();
    // A client that ends lines with bare LF may have meant what follows as
    // commands: nothing more is relayed on this session.
    protocol_error_ = true;
    log("a message with a bare LF or CR was refused");
    send(554,
         "5.6.0 the message contains a bare LF or CR: every line must end with CRLF (RFC 5321 section 2.3.8); "
         "nothing was relayed");
    return true;
  }
  if (reader.line_too_long()) {
    transaction_.reset();
    send(554, "5.6.0 a line of the message is longer than 998 characters (RFC 5322 section 2.1.1)");
    return true;
  }
  transaction_->eight_bit = transaction_->eight_bit || reader.has_eight_bit();
  bool keep_going = deliver(reader.take());
  transaction_.reset();
  return keep_going;
}

ServiceClients::Held::Held(ServiceClients& clients, keyservice::Client* client) : clients_(clients), client_(client) {
  if (client_ == nullptr)
    return;
  std::lock_guard guard(clients_.lock_);
  clients_.held_.insert(client_);
  if (clients_.stopping_)
    client_->cancel();
}

ServiceClients::Held::~Held() {
  if (client_ == nullptr)
    return;
  std::lock_guard guard(clients_.lock_);
  clients_.held_.erase(client_);
}

void ServiceClients::cancel_all() {
  std::lock_guard guard(lock_);
  stopping_ = true;
  for (auto* client : held_)
    client->cancel();
}

profile::Profile& Session::profile() {
  // Opened again when the store's file was replaced or its schema changed
  // (a newer mailseal upgraded it): the open checks the schema (review of
  // issue 15, a session kept open wrote a store a newer mailseal owned).
  if (profile_ && !profile_->store().still_current())
    profile_.reset();
  if (!profile_)
    profile_.emplace(profile::Profile::open(shared_.options.home));
  return *profile_;
}

bool Session::deliver(std::string message) {
  const Transaction& transaction = *transaction_;
  DeliveryPlan plan;
  try {
    profile::Profile& profile = this->profile();
    // Again here, the last moment before the key is used: the credential
    // may have been removed while the client sent RCPT and the data.
    if (credential_revoked())
      return true;
    std::optional<keyservice::Client> service;
    if (auto url = devices::service_to_use({}, profile.store()))
      service.emplace(*url);
    const ServiceClients::Held held(shared_.service_clients, service ? &*service : nullptr);
    // The gateway reads the clock here, once a message: the library plans by it.
    plan = plan_delivery(profile, shared_.options.key_access, shared_.options.policy, submitter_->info,
                         Envelope{transaction.reverse_path, transaction.recipients}, std::move(message),
                         mailseal::now(), service ? &*service : nullptr, &shared_.lookups);
  } catch (const Error& error) {
    log(fmt::format("message from <{}> to {} (credential {}) not relayed: {}", transaction.reverse_path,
                    describe_recipients(transaction.recipients), submitter_->info.name, error.what()));
    switch (error.code()) {
      case ErrorCode::RejectedByPolicy:
        send(550, fmt::format("5.7.1 {}", error.what()));
        break;
      case ErrorCode::Malformed:
      case ErrorCode::Usage:
        send(554, fmt::format("5.6.0 the message is refused: {}", error.what()));
        break;
      default:
        // The gateway's own trouble (a key passphrase, the store): the client
        // keeps the message and tries again later.
        profile_.reset();
        send(451, fmt::format("4.3.0 the gateway cannot process the message now: {}", error.what()));
        break;
    }
    return true;
  }
  if (plan.renewal.publish_failure)
    log(fmt::format("certificate renewal: {}", *plan.renewal.publish_failure));

  if (!ensure_upstream()) {
    send(451, "4.4.1 the upstream server cannot be reached; try again later");
    return true;
  }
  std::size_t delivered = 0;
  for (const auto& copy : plan.copies) {
    std::optional<UpstreamRefusal> refusal;
    try {
      refusal = upstream_->relay(transaction.reverse_path, copy.recipients, copy.message, transaction.eight_bit);
    } catch (const Error& error) {
      log(fmt::format("upstream failed: {}", error.what()));
      upstream_.reset();
      send(451,
           fmt::format("4.4.2 the upstream connection failed{}; try again later",
                       delivered ? fmt::format(" after {} of {} copies were accepted", delivered, plan.copies.size())
                                 : std::string()));
      return true;
    }
    if (refusal) {
      int code = refusal->reply.code >= 400 && refusal->reply.code < 600 ? refusal->reply.code : 451;
      log(fmt::format("upstream refused at {}: {} {}", refusal->stage, refusal->reply.code, refusal->reply.text()));
      send(code, fmt::format("{}.0.0 upstream refused at {}: {}{}", code / 100, refusal->stage, refusal->reply.text(),
                             delivered ? fmt::format(" ({} of {} copies were accepted)", delivered, plan.copies.size())
                                       : std::string()));
      return true;
    }
    ++delivered;
  }
  log(fmt::format("message from <{}> to {} (credential {}): {}", transaction.reverse_path,
                  describe_recipients(transaction.recipients), submitter_->info.name, plan.summary));
  send(250, fmt::format("2.0.0 relayed: {}", plan.summary));
  return true;
}

}  // namespace mailseal::gateway::internal
