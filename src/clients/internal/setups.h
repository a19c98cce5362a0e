#pragma once
// The client set-ups mailseal remembers (store::ClientSetupRecord) and the
// state each holds, so that `sync` can tell which are stale.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "mailseal/contacts/client_trust.h"
#include "mailseal/profile/profile.h"

namespace mailseal::clients::internal {

// What a client holds, as text: the current mail certificates, and for a
// client that takes correspondents' roots, what it does with each.
std::string keys_state(profile::Profile& profile);
std::string trust_state(const std::vector<contacts::ClientRoot>& roots);

// Records a set-up of `kind` at `location` with the state it now holds
// (`roots`: the correspondents' roots it was given, for Thunderbird).
void remember_setup(profile::Profile& profile, std::string_view kind, const std::filesystem::path& location,
                    TimePoint now, const std::vector<contacts::ClientRoot>* roots = nullptr);

}  // namespace mailseal::clients::internal
