#pragma once
// How the commands that put keys into other mail clients report the
// certificates they re-issued for clients without AES-GCM.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mailseal/clients/mail_clients.h"
#include "mailseal/gateway/user_service.h"

namespace mailseal::cli {

// Correspondents' roots as a client now has them (JSON; lines on stdout and notes).
nlohmann::json describe_client_roots(const std::vector<contacts::ClientRoot>& roots);
void report_client_roots(const std::vector<contacts::ClientRoot>& roots, std::string_view client);

// The remembered client set-ups and whether each is current (`status`), and
// what `sync` did with the stale ones.
nlohmann::json describe_client_states(const std::vector<clients::ClientState>& states);
void print_client_states(const std::vector<clients::ClientState>& states);
nlohmann::json describe_client_refreshes(const std::vector<clients::ClientRefresh>& refreshes);
void report_client_refreshes(const std::vector<clients::ClientRefresh>& refreshes);

// Whether the gateway runs as a per-user service (`status`).
std::string systemd_manager_text(const gateway::UserManager& manager);
nlohmann::json describe_gateway_service();
void print_gateway_service();

nlohmann::json describe_cbc(const clients::CbcReaders& cbc);
// Notes and warnings on stderr.
void report_cbc(const clients::CbcReaders& cbc, std::string_view client);

}  // namespace mailseal::cli
