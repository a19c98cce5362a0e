// publish, lookup, device join/pending/accept/reject/invite/list/remove, sync,
// recovery create/restore.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "cli/claims_view.h"
#include "cli/client_report.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/records_view.h"
#include "cli/renewal_view.h"
#include "cli/trust_view.h"
#include "mailseal/agent/agent.h"
#include "mailseal/clients/mail_clients.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/qr_code.h"
#include "mailseal/devices/connect.h"
#include "mailseal/devices/key_service.h"
#include "mailseal/devices/recovery.h"
#include "mailseal/keyservice/client.h"

namespace mailseal::cli {

namespace {

using nlohmann::json;

store::DeviceRole parse_role_argument(const std::string& text) {
  if (text == "full")
    return store::DeviceRole::Full;
  if (text == "read")
    return store::DeviceRole::Read;
  throw Error(ErrorCode::Usage, "--role is full or read");
}

// "90s", "10m", "2h", "1d", or seconds.
std::chrono::seconds parse_duration(const std::string& text) {
  if (text.empty() || text.size() > 12)
    throw Error(ErrorCode::Usage, "a duration is a number with s, m, h or d, for example 10m");
  std::size_t digits = text.find_first_not_of("0123456789");
  if (digits == 0)
    throw Error(ErrorCode::Usage, "a duration starts with a number, for example 10m");
  long long value = std::stoll(text.substr(0, digits));
  std::string unit = digits == std::string::npos ? "s" : text.substr(digits);
  long long scale = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
  if (scale == 0)
    throw Error(ErrorCode::Usage, "a duration's unit is s, m, h or d");
  return std::chrono::seconds(value * scale);
}

// A QR code of `text` in Unicode half blocks, for a phone to scan off the
// terminal.
void print_qr(const std::string& text) {
  const std::optional<QrCode> code = encode_qr(text);
  if (!code)
    return;
  for (int y = -2; y < code->width + 2; y += 2) {
    std::string line;
    for (int x = -2; x < code->width + 2; ++x) {
      bool top = code->dark(x, y);
      bool bottom = code->dark(x, y + 1);
      // Light modules are drawn, dark ones left blank: terminals are dark.
      line += !top && !bottom ? "\u2588" : !top ? "\u2580" : !bottom ? "\u2584" : " ";
    }
    print_line(line);
  }
}

constexpr std::string_view kOlderEscrowWarning =
    "the key service served an older escrow than this device has seen: it was merged, which changes nothing, and "
    "this device's publication restores the newer one";
// `taken`: what of the escrow was merged (devices::SyncReport).
std::string ignored_escrow_warning(const std::string& taken) {
  return fmt::format(
      "the key service served an escrow that removes this device or lowers its role, after an admin device was "
      "removed here (which may have written it): of it only what removes or lowers other devices was merged ({}), "
      "and this device's publication replaces it. If you did not remove or lower those devices from another admin "
      "device of yours, the removed admin device still holds the profile's root and wrote it",
      taken);
}

}  // namespace

int run_publish(const Context& context, const ServiceArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  keyservice::Client client = devices::service_client(args.service, profile.store());
  devices::PublishReport report = devices::publish(profile, client, context.key_access(), context.now());
  if (report.older_escrow_merged)
    print_warning(kOlderEscrowWarning);
  if (context.json()) {
    json addresses = json::array();
    for (const auto& address : report.addresses)
      addresses.push_back(address.str());
    print_json({{"service", client.url()},
                {"fingerprint", short_fingerprint(report.fingerprint)},
                {"addresses", addresses},
                {"claims", claims_json(report.claims)},
                {"older_escrow_merged", report.older_escrow_merged},
                {"certificates", report.certificates},
                {"devices", report.devices}});
    return 0;
  }
  print_note(fmt::format("published {} certificate(s) and {} device(s) to {}", report.certificates, report.devices,
                         client.url()));
  print_pending_claims(report.claims);
  return 0;
}

int run_address_confirm(const Context& context, const AddressConfirmArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  keyservice::Client client = devices::service_client(args.service, profile.store());
  keyservice::AddressClaim claim =
      devices::confirm_address(profile, client, context.key_access(), args.token, context.now());
  if (context.json()) {
    print_json({{"service", client.url()}, {"address", claim.address}, {"state", claim.state}});
    return 0;
  }
  print_note(fmt::format("{} is verified on {}", escape_for_terminal(claim.address), client.url()));
  return 0;
}

int run_address_withdraw(const Context& context, const AddressWithdrawArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  keyservice::Client client = devices::service_client(args.service, profile.store());
  keyservice::AddressClaim claim = devices::withdraw_address(profile, client, context.key_access(),
                                                             parse_address_argument(args.address), context.now());
  if (context.json()) {
    print_json({{"service", client.url()}, {"address", claim.address}, {"state", claim.state}});
    return 0;
  }
  print_note(fmt::format("{} is no longer served by {}", escape_for_terminal(claim.address), client.url()));
  print_hint("the next 'mailseal publish' claims it again, with a new challenge mail");
  return 0;
}

int run_lookup(const Context& context, const LookupArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  EmailAddress address = parse_address_argument(args.address);
  keyservice::Client client = devices::service_client(args.service, profile.store());
  agent::LookupReport report = agent::lookup(profile, client, address, context.now());
  for (const auto& warning : report.imported.trust.warnings)
    print_warning(escape_for_terminal(warning));
  if (context.json()) {
    print_json({{"address", address.str()},
                {"fingerprint", short_fingerprint(report.fingerprint)},
                {"verified", report.verified ? json(*report.verified) : json(nullptr)},
                {"certificates", report.imported.contacts.size()},
                {"endorsements", report.imported.trust.endorsements},
                {"revocations", report.imported.trust.revocations},
                {"trust", report.trust ? trust_summary_json(*report.trust) : json(nullptr)}});
    return 0;
  }
  print_note(fmt::format("found {} ({}) on {}: {} certificate(s){}", address.str(),
                         short_fingerprint(report.fingerprint), client.url(), report.imported.contacts.size(),
                         !report.verified   ? ""
                         : *report.verified ? ", address verified by the service"
                                            : ", address NOT verified by the service (first come, first served)"));
  if (report.trust)
    print_trust_summary(*report.trust);
  return 0;
}

namespace {

// How long `device join --pin` waits for its keys by default: a PIN's default
// lifetime, after which the admin device refuses the request anyway.
constexpr std::chrono::seconds kJoinWaitWithPin{600};
// How often a waiting join asks the key service; well inside its limit on
// signed requests per client (service::RateLimits::signed_request).
constexpr std::chrono::seconds kJoinPollInterval{3};
constexpr std::chrono::seconds kJoinProgressInterval{30};

// Asks the key service until an admin device accepted the request and the
// keys arrived (true), or `limit` passed (false). A refusal ends the wait with
// its Error; a key service that does not answer is asked again.
bool wait_for_keys(const Context& context, keyservice::Client& client, std::chrono::seconds limit, json& answer) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + limit;
  Clock::time_point next_progress = Clock::now() + kJoinProgressInterval;
  bool told_unreachable = false;
  while (true) {
    try {
      devices::SyncReport report = devices::sync(context.home(), client, context.key_access(), mailseal::now());
      if (report.joined) {
        answer["keys_added"] = report.keys_added;
        if (!context.json())
          print_note(fmt::format("joined the profile; {} mail key(s) received", report.keys_added));
        return true;
      }
    } catch (const Error& error) {
      if (error.code() != ErrorCode::Io)
        throw;
      if (!told_unreachable && !context.json())
        print_warning(fmt::format("the key service did not answer ({}); asking again", error.what()));
      told_unreachable = true;
    }
    const Clock::time_point now = Clock::now();
    if (now >= deadline)
      return false;
    if (now >= next_progress && !context.json()) {
      const auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - now);
      print_note(fmt::format("still waiting for an admin device ({} s left)", left.count()));
      next_progress = now + kJoinProgressInterval;
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(kJoinPollInterval, deadline - now));
  }
}

}  // namespace

int run_device_join(const Context& context, const DeviceJoinArgs& args) {
  if (args.service.empty())
    throw Error(ErrorCode::Usage, "give --service URL, the key service the profile is published on");
  keyservice::Client client(args.service);
  devices::JoinOptions options{parse_address_argument(args.address), args.name, std::nullopt, context.key_access()};
  if (options.device_name.empty()) {
    char host[256] = {};
    options.device_name = ::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0' ? host : "new device";
  }
  if (!args.pin.empty())
    options.pin = args.pin;
  devices::JoinTicket ticket = devices::join(context.home(), client, options, context.now());
  const std::chrono::seconds wait(args.wait.value_or(args.pin.empty() ? 0 : kJoinWaitWithPin.count()));
  json answer{
      {"device_id", ticket.device_id.str()}, {"witness", ticket.witness}, {"request_id", ticket.request_id.str()}};
  if (!context.json()) {
    print_line(fmt::format("device   {}", ticket.device_id.str()));
    print_line(fmt::format("witness  {}", ticket.witness));
    if (args.pin.empty())
      print_note("on an admin device, run 'mailseal device pending' and accept the request showing this witness");
    else
      print_note(
          "the admin device that made the PIN accepts this device on its next sync (its gateway syncs by itself)");
  }
  if (wait.count() == 0) {
    if (context.json())
      print_json(answer);
    else
      print_hint("then run 'mailseal sync' here to receive the keys");
    return 0;
  }
  if (!context.json())
    print_note(fmt::format("waiting up to {} s for the keys (Ctrl-C stops waiting; 'mailseal sync' finishes later)",
                           wait.count()));
  const bool joined = wait_for_keys(context, client, wait, answer);
  if (!joined)
    throw Error(
        ErrorCode::NotFound,
        fmt::format("no admin device accepted this device within {} s; the request is still waiting", wait.count()),
        "run 'mailseal sync' later to finish joining, or 'mailseal device join' again with a new PIN");
  answer["joined"] = true;
  if (context.json())
    print_json(answer);
  return 0;
}

int run_device_pending(const Context& context, const ServiceArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  keyservice::Client client = devices::service_client(args.service, profile.store());
  auto pending = devices::pending_devices(profile, client, context.key_access(), context.now());
  if (context.json()) {
    json list = json::array();
    for (const auto& request : pending) {
      list.push_back({{"request_id", request.request_id.str()},
                      {"device_name", request.device_name},
                      {"witness", request.witness},
                      {"pin", request.by_pin},
                      {"requested_at", iso_time(request.created_at)}});
    }
    print_json({{"requests", list}});
    return 0;
  }
  if (pending.empty())
    print_note("no device is waiting to join");
  for (const auto& request : pending) {
    print_line(fmt::format("{}  {}  {}{}", request.witness, escape_for_terminal(request.request_id.str()),
                           escape_for_terminal(request.device_name), request.by_pin ? "  (PIN)" : ""));
  }
  return 0;
}

int run_device_accept(const Context& context, const DeviceDecisionArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  keyservice::Client client = devices::service_client(args.service, profile.store());
  devices::AcceptedDevice accepted = devices::accept_device(profile, client, context.key_access(), args.selector,
                                                            parse_role_argument(args.role), context.now());
  if (context.json()) {
    print_json({{"device_id", accepted.device_id.str()},
                {"name", accepted.name},
                {"role", store::to_string(accepted.role)},
                {"request_id", accepted.request_id.str()}});
    return 0;
  }
  print_note(fmt::format("accepted {} ({}) as a {} device; it receives its keys on its next 'mailseal sync'",
                         escape_for_terminal(accepted.name), accepted.device_id.str(),
                         store::to_string(accepted.role)));
  return 0;
}

int run_device_reject(const Context& context, const DeviceDecisionArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  keyservice::Client client = devices::service_client(args.service, profile.store());
  if (args.all == !args.selector.empty())
    throw Error(ErrorCode::Usage, "give a witness or request id, or --all (not both)");
  if (args.all) {
    std::vector<RequestId> rejected = devices::reject_all_requests(profile, client, context.key_access(), context.now());
    if (context.json()) {
      nlohmann::json ids = nlohmann::json::array();
      for (const auto& id : rejected)
        ids.push_back(id.str());
      print_json({{"rejected", ids}});
      return 0;
    }
    print_note(fmt::format("{} pending request(s) rejected", rejected.size()));
    return 0;
  }
  devices::reject_device(profile, client, context.key_access(), args.selector, context.now());
  if (context.json()) {
    print_json({{"rejected", args.selector}});
    return 0;
  }
  print_note("the request was rejected");
  return 0;
}

int run_device_invite(const Context& context, const DeviceInviteArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  keyservice::Client client = devices::service_client(args.service, profile.store());
  devices::Invitation invitation = devices::invite(profile, client, context.key_access(), parse_duration(args.expires),
                                                   parse_role_argument(args.role), context.now());
  if (context.json()) {
    print_json({{"pin", invitation.pin},
                {"uri", invitation.uri},
                {"expires", iso_time(invitation.expires_at)},
                {"role", store::to_string(invitation.role)}});
    return 0;
  }
  print_line(fmt::format("PIN      {}", invitation.pin));
  print_line(fmt::format("expires  {}", iso_time(invitation.expires_at)));
  print_line(fmt::format("URI      {}", invitation.uri));
  if (::isatty(STDOUT_FILENO))
    print_qr(invitation.uri);
  print_note(fmt::format("on the new device: mailseal device join {} --service {} --pin {}",
                         profile.addresses().front().str(), client.url(), invitation.pin));
  print_hint("then run 'mailseal sync' here to accept it");
  return 0;
}

int run_device_list(const Context& context) {
  profile::Profile profile = profile::Profile::open(context.home());
  profile::ProfileStatus status = profile.status();
  if (context.json()) {
    json list = json::array();
    for (const auto& device : status.devices) {
      list.push_back({{"device_id", device.device_id.str()},
                      {"name", device.name},
                      {"role", store::to_string(device.role)},
                      {"status", store::to_string(device.status)},
                      {"this_device", device.is_this_device}});
    }
    print_json({{"devices", list}});
    return 0;
  }
  for (const auto& device : status.devices) {
    print_line(fmt::format("{}  {:<6} {:<8} {}{}", device.device_id.str(), store::to_string(device.role),
                           store::to_string(device.status), escape_for_terminal(device.name),
                           device.is_this_device ? "  (this device)" : ""));
  }
  return 0;
}

int run_device_remove(const Context& context, const DeviceRemoveArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  keyservice::Client client = devices::service_client(args.service, profile.store());
  devices::RemovalReport report =
      devices::remove_device(profile, client, context.key_access(), DeviceId(args.device_id), context.now());
  if (!report.escrow_refused.empty())
    print_warning(
        fmt::format("the escrow the key service served was refused ({}); the removal went on and its "
                    "publication replaced it",
                    report.escrow_refused));
  if (!report.cut_problem.empty())
    print_warning(
        fmt::format("the removed device's trust records are merged only up to number {}, what this device had "
                    "merged: its log as the key service serves it could not be checked ({})",
                    report.cut, report.cut_problem));
  if (context.json()) {
    json rotated = json::array();
    for (const auto& address : report.rotated)
      rotated.push_back(address.str());
    print_json({{"removed", report.device_id.str()},
                {"rotated", rotated},
                {"devices_updated", report.devices_updated},
                {"cut", report.cut}});
    return 0;
  }
  print_note(fmt::format("removed {}; new keys for {} address(es) were published and sent to {} device(s)",
                         report.device_id.str(), report.rotated.size(), report.devices_updated));
  return 0;
}

namespace {

// The device part of `sync`: with the key service, finish joining, receive
// keys, accept devices invited by PIN. Returns false when this device was
// removed.
bool sync_with_service(const Context& context, keyservice::Client& client, json& answer) {
  devices::SyncReport report = devices::sync(context.home(), client, context.key_access(), context.now());
  if (report.older_escrow_merged)
    print_warning(kOlderEscrowWarning);
  if (report.escrow_ignored)
    print_warning(ignored_escrow_warning(report.escrow_ignored_taken));
  if (context.json()) {
    json accepted = json::array();
    for (const auto& device : report.accepted)
      accepted.push_back({{"device_id", device.device_id.str()}, {"name", device.name}});
    json refused = json::array();
    for (const auto& request : report.refused)
      refused.push_back(request.str());
    answer.update(
        {{"joined", report.joined},
         {"waiting", report.waiting},
         {"removed", report.removed},
         {"accepted", accepted},
         {"refused", refused},
         {"keys_added", report.keys_added},
         {"keys_archived", report.keys_archived},
         {"renewal", renewal_json(report.renewal)},
         {"records", records_json(report.records)},
         {"served_list_corrected", report.served_list_corrected ? json(*report.served_list_corrected) : json(nullptr)},
         {"older_escrow_merged", report.older_escrow_merged},
         {"escrow_ignored", report.escrow_ignored},
         {"escrow_ignored_taken", report.escrow_ignored ? json(report.escrow_ignored_taken) : json(nullptr)}});
    return !report.removed;
  }
  if (report.waiting)
    print_note("the request to join is still waiting for an admin device");
  if (report.joined)
    print_note(fmt::format("joined the profile; {} mail key(s) received", report.keys_added));
  for (const auto& device : report.accepted)
    print_note(fmt::format("accepted {} ({}) by its PIN", escape_for_terminal(device.name), device.device_id.str()));
  for (const auto& request : report.refused)
    print_warning(
        fmt::format("refused request {}: its PIN was wrong, used or expired", escape_for_terminal(request.str())));
  if (report.keys_added > 0 && !report.joined)
    print_note(fmt::format("{} new mail key(s)", report.keys_added));
  if (report.removed) {
    print_warning("this device was removed from the profile; it receives no new keys");
    return false;
  }
  if (report.served_list_corrected) {
    print_warning(fmt::format("the key service served a device list the profile's admin devices did not seal ({}); "
                              "nothing was taken from it and the true list was published again",
                              escape_for_terminal(*report.served_list_corrected)));
  }
  print_renewal(report.renewal);
  const bool records = print_records(report.records);
  if (!report.waiting && !report.joined && report.accepted.empty() && report.refused.empty() && report.keys_added == 0 &&
      report.renewal.renewed.empty() && !report.renewal.published && !records)
    print_note("up to date");
  return true;
}

// Whether `sync` talks to a key service: one is given or remembered, or the
// home holds only a pending join (which names its service).
bool uses_key_service(const Context& context, const ServiceArgs& args) {
  if (!store::LocalStore::exists(context.home()))
    return true;
  store::LocalStore store = store::LocalStore::open(context.home());
  return devices::service_to_use(args.service, store).has_value();
}

}  // namespace

int run_sync(const Context& context, const ServiceArgs& args) {
  const auto home = context.home();
  json answer = json::object();
  if (uses_key_service(context, args)) {
    keyservice::Client client = devices::service_client_for_home(args.service, home);
    if (!sync_with_service(context, client, answer)) {
      if (context.json())
        print_json(answer);
      return 1;
    }
  } else if (!context.json()) {
    print_note("no key service is configured: only the mail clients set up on this device are brought up to date");
  }
  // Mail clients set up here take the keys and trust the profile has now.
  std::vector<clients::ClientRefresh> refreshes;
  if (store::LocalStore::exists(home)) {
    profile::Profile profile = profile::Profile::open(home);
    refreshes = clients::refresh_clients(profile, context.key_access(), context.now());
  }
  if (context.json()) {
    answer["clients"] = describe_client_refreshes(refreshes);
    print_json(answer);
    return 0;
  }
  report_client_refreshes(refreshes);
  return 0;
}

int run_recovery_create(const Context& context, const RecoveryCreateArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  auto shares = devices::create_recovery_shares(profile, context.key_access(), args.shares, args.quorum);
  if (context.json()) {
    print_json({{"shares", shares}, {"quorum", args.quorum}});
    return 0;
  }
  for (const auto& share : shares)
    print_line(share);
  print_note(fmt::format("any {} of these {} shares restore the profile ('mailseal recovery restore'); keep them apart",
                         args.quorum, args.shares));
  if (!devices::remembered_service(profile.store()))
    print_warning("the profile is not published: restoring needs the escrow on a key service ('mailseal publish')");
  return 0;
}

namespace {

json restore_json(const devices::RestoreReport& report) {
  json addresses = json::array();
  for (const auto& address : report.addresses)
    addresses.push_back(address.str());
  json listed = json::array();
  for (const auto& device : report.devices) {
    listed.push_back({{"device_id", device.device_id.str()},
                      {"name", device.name},
                      {"role", store::to_string(device.role)},
                      {"status", store::to_string(device.status)},
                      {"this_device", device.this_device}});
  }
  json removed = json::array();
  for (const auto& id : report.removed_by_revocations)
    removed.push_back(id.str());
  json old_escrow = nullptr;
  if (report.old_escrow) {
    old_escrow = {{"newest_revocation_list", iso_time(report.old_escrow->newest_revocation_list)},
                  {"serials_not_in_escrow", report.old_escrow->serials_not_in_escrow},
                  {"accepted", report.restored}};
  }
  return {{"restored", report.restored},
          {"fingerprint", short_fingerprint(report.fingerprint)},
          {"addresses", addresses},
          {"device_id", report.restored ? json(report.device_id.str()) : json(nullptr)},
          {"mail_keys", report.mail_keys},
          {"escrow_sealed_at", iso_time(report.escrow_sealed_at)},
          {"old_escrow", old_escrow},
          {"devices", listed},
          {"removed_by_revocations", removed},
          {"rotated", report.rotated}};
}

void print_escrow_devices(const devices::RestoreReport& report) {
  for (const auto& device : report.devices) {
    print_note(fmt::format("  {} {} {} {}{}", device.device_id.str(), escape_for_terminal(device.name),
                           store::to_string(device.role), store::to_string(device.status),
                           device.this_device ? " (this device)" : ""));
  }
}

std::string old_escrow_text(const devices::RestoreReport& report) {
  const devices::OldEscrow& old = *report.old_escrow;
  std::string newer =
      fmt::format("the profile's root signed a revocation list at {}", iso_time(old.newest_revocation_list));
  if (!old.serials_not_in_escrow.empty())
    newer += fmt::format(" that revokes {} certificate(s) the escrow does not", old.serials_not_in_escrow.size());
  return fmt::format(
      "the key service serves an escrow sealed at {}, and {}: the escrow is older than what the "
      "root did since (a device removed or keys rotated after it)",
      iso_time(report.escrow_sealed_at), newer);
}

int refuse_old_escrow(const Context& context, const devices::RestoreReport& report) {
  if (context.json()) {
    print_json(restore_json(report));
    return 1;
  }
  print_error(old_escrow_text(report) + "; nothing was restored or published",
              "restore when the key service serves the newest escrow; to restore from this one anyway (then remove "
              "again any device listed active that was removed since), add --accept-old-escrow");
  print_note("the escrow's devices:");
  print_escrow_devices(report);
  return 1;
}

}  // namespace

int run_recovery_restore(const Context& context, const RecoveryRestoreArgs& args) {
  if (args.service.empty())
    throw Error(ErrorCode::Usage, "give --service URL, the key service that keeps the escrow");
  keyservice::Client client(args.service);
  const auto policy = args.accept_old_escrow ? devices::OldEscrowPolicy::Accept : devices::OldEscrowPolicy::Refuse;
  devices::RestoreReport report =
      devices::restore(context.home(), client, {args.shares, args.name, context.key_access(), policy}, context.now());
  if (!report.restored)
    return refuse_old_escrow(context, report);
  if (context.json()) {
    print_json(restore_json(report));
    return 0;
  }
  print_note(fmt::format("restored the profile {} with {} mail key(s); this is admin device {}",
                         short_fingerprint(report.fingerprint), report.mail_keys, report.device_id.str()));
  if (report.old_escrow)
    print_warning(old_escrow_text(report) + "; restored from it as --accept-old-escrow asked");
  print_note(fmt::format("the escrow restored from was sealed by an admin device at {}; its devices:",
                         iso_time(report.escrow_sealed_at)));
  print_escrow_devices(report);
  for (const auto& id : report.removed_by_revocations) {
    print_warning(fmt::format("device {} was active in the escrow, but the profile's root revoked its certificates "
                              "in the published revocation list: the escrow is older than its removal, so it is "
                              "removed here too",
                              id.str()));
  }
  if (report.rotated)
    print_warning("the escrow's current mail keys may be held by a removed device: new ones were made and published");
  print_note("if a device listed active was removed since that date, remove it again: 'mailseal device remove ID'");
  return 0;
}

}  // namespace mailseal::cli
