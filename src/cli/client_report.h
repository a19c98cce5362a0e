#pragma once
// How the commands that put keys into other mail clients report the
// certificates they re-issued for clients without AES-GCM.

#include <string_view>

#include <nlohmann/json.hpp>

#include "mailseal/clients/mail_clients.h"

namespace mailseal::cli {

nlohmann::json describe_cbc(const clients::CbcReaders& cbc);
// Notes and warnings on stderr.
void report_cbc(const clients::CbcReaders& cbc, std::string_view client);

}  // namespace mailseal::cli
