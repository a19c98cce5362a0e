#pragma once
// Thunderbird's prefs.js, read and written by `setup thunderbird`
// (thunderbird.cc) and `setup gateway` (thunderbird_outgoing.cc).

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mailseal/clients/mail_clients.h"
#include "mailseal/profile/profile.h"

namespace mailseal::clients::internal {

// A string preference's value as prefs.js writes it: quoted, with quotes and
// backslashes escaped.
std::string pref_string(std::string_view value);

// prefs.js of a profile Thunderbird does not run with (it rewrites the file
// on exit: what is written now would be lost); empty when there is none.
std::string read_prefs_of_stopped_thunderbird(const std::filesystem::path& directory);

// The identities of prefs.js with one of the profile's addresses;
// Error(NotFound) when there is none.
std::vector<ThunderbirdIdentity> profile_identities(profile::Profile& profile, const std::filesystem::path& directory,
                                                    const std::string& prefs);

// Every user_pref line of prefs.js: name -> its value as written.
std::map<std::string, std::string> read_preferences(const std::string& prefs);

// A string preference's text (pref_string in reverse); empty for anything else.
std::string string_preference(const std::map<std::string, std::string>& preferences, const std::string& name);

// prefs.js with `values` set (the last line for a name wins in Thunderbird).
std::string set_preferences(const std::string& prefs, const std::vector<std::pair<std::string, std::string>>& values);

}  // namespace mailseal::clients::internal
