// Remembered client set-ups and `sync` keeping them current (mail_clients.h).

#include <fmt/format.h>

#include "clients/internal/setups.h"
#include "mailseal/agent/agent.h"
#include "mailseal/clients/mail_clients.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/udf/udf.h"

namespace mailseal::clients {

namespace internal {

namespace {

constexpr std::string_view kTrustSeparator = "\ntrust ";

}  // namespace

std::string keys_state(profile::Profile& profile) {
  std::string out = "keys";
  for (const auto& key : profile.store().mail_keys()) {
    if (key.status == store::KeyStatus::Current)
      out += " " + crypto::Certificate::from_der(key.certificate).fingerprint().to_string(udf::kFullBits);
  }
  return out;
}

std::string trust_state(const std::vector<contacts::ClientRoot>& roots) {
  std::string out;
  for (const auto& root : roots) {
    if (root.profile_root)
      out += fmt::format("{}{}={}", out.empty() ? "" : " ", root.identity.str(), contacts::to_string(root.trust));
  }
  return out;
}

void remember_setup(profile::Profile& profile, std::string_view kind, const std::filesystem::path& location,
                    TimePoint now, const std::vector<contacts::ClientRoot>* roots) {
  std::string state = keys_state(profile);
  if (roots)
    state += std::string(kTrustSeparator) + trust_state(*roots);
  profile.store().remember_client_setup(
      {std::string(kind), std::filesystem::absolute(location).lexically_normal().string(), state, now});
}

}  // namespace internal

namespace {

std::string rerun_command(const store::ClientSetupRecord& setup) {
  if (setup.kind == kThunderbirdClient)
    return fmt::format("mailseal setup thunderbird --profile {}", quote_for_shell(setup.location));
  return fmt::format("mailseal setup mutt --dir {}", quote_for_shell(setup.location));
}

}  // namespace

std::vector<ClientState> client_states(profile::Profile& profile, TimePoint now) {
  std::vector<ClientState> out;
  const std::string keys = internal::keys_state(profile);
  std::optional<std::string> trust;  // evaluated once, when a client needs it
  for (auto& setup : profile.store().client_setups()) {
    ClientState state{setup, true, true, rerun_command(setup)};
    const auto separator = setup.state.find(internal::kTrustSeparator);
    state.keys_current = setup.state.substr(0, separator) == keys;
    if (separator != std::string::npos) {
      if (!trust)
        trust = internal::trust_state(contacts::client_roots(profile.store(), agent::evaluator(profile), now));
      state.trust_current = setup.state.substr(separator + internal::kTrustSeparator.size()) == *trust;
    }
    out.push_back(std::move(state));
  }
  return out;
}

std::vector<ClientRefresh> refresh_clients(profile::Profile& profile, const KeyAccess& key_access, TimePoint now) {
  std::vector<ClientRefresh> out;
  for (auto& state : client_states(profile, now)) {
    if (state.keys_current && state.trust_current)
      continue;
    ClientRefresh refresh{state, false, {}};
    try {
      if (state.setup.kind == kThunderbirdClient) {
        setup_thunderbird(profile, state.setup.location, key_access, nullptr, now);
      } else {
        setup_mutt(profile, state.setup.location, nullptr, now);
      }
      refresh.refreshed = true;
    } catch (const Error& error) {
      refresh.problem = error.what();
      if (!error.hint().empty())
        refresh.problem += fmt::format(" ({})", error.hint());
    }
    out.push_back(std::move(refresh));
  }
  return out;
}

}  // namespace mailseal::clients
