// The key service's API on untrusted requests: the input is
//   METHOD \n TARGET \n CONTENT-TYPE \n AUTHORIZATION \n BODY
// answered by one Api over a throw-away database, one that verifies
// addresses (its challenge mails kept, never sent), or, when METHOD starts
// with '~', one that lists them unverified. Property: nothing crashes,
// every answer is a JSON object or a page of the verification links (HTML
// with its Content-Security-Policy), every refusal is a 4xx with an error,
// and no page confirms an address.

#include <unistd.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz.h"
#include "mailseal/service/api.h"

namespace mailseal::fuzz {

namespace {

// The service's database for one fuzzing process, removed (with SQLite's
// journal files) when the process ends, after the Api that uses it.
struct ScratchDatabase {
  std::filesystem::path path;
  explicit ScratchDatabase(std::string_view name)
      : path(std::filesystem::temp_directory_path() /
             ("mailseal-fuzz-service-" + std::string(name) + "-" + std::to_string(::getpid()) + ".db")) {
    remove_files();
  }
  ~ScratchDatabase() { remove_files(); }
  void remove_files() const {
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::filesystem::remove(std::filesystem::path(path.string() + suffix), ignored);
    }
  }
};

service::Api& verifying_api() {
  static const ScratchDatabase database("verified");
  static service::Api instance(
      database.path,
      service::ServiceSettings{
          service::Verification::Mail, "https://keys.test", "keys@keys.test", {}, [](const service::OutgoingMail&) {}, {}, {}});
  return instance;
}

service::Api& unverified_api() {
  static const ScratchDatabase database("unverified");
  static service::Api instance(database.path);
  return instance;
}

bool has_header(const service::HttpResponse& response, std::string_view name) {
  for (const auto& [field, value] : response.headers) {
    if (field == name && !value.empty())
      return true;
  }
  return false;
}

std::string next_line(std::string_view& rest) {
  auto end = rest.find('\n');
  std::string line(rest.substr(0, end));
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
  return line;
}

}  // namespace

void run(std::span<const std::uint8_t> input) {
  std::string_view rest(reinterpret_cast<const char*>(input.data()), input.size());
  service::HttpRequest request;
  request.method = next_line(rest);
  service::Api& api = request.method.starts_with('~') ? unverified_api() : verifying_api();
  if (request.method.starts_with('~'))
    request.method.erase(0, 1);
  request.target = next_line(rest);
  request.content_type = next_line(rest);
  request.authorization = next_line(rest);
  request.body = std::string(rest);
  service::HttpResponse response = api.handle(request, from_unix_seconds(1800000000));
  if (response.content_type != "application/json") {
    // A page: only for the links of challenge mails, always with its
    // policy, and (the fuzzer knows no token) never a confirmation.
    if (!request.target.starts_with("/verify/") || !response.body.starts_with("<!DOCTYPE html>") ||
        !has_header(response, "Content-Security-Policy") || (response.status == 200 && request.method == "POST"))
      std::abort();
    return;
  }
  auto document = nlohmann::json::parse(response.body, nullptr, false);
  if (document.is_discarded() || !document.is_object())
    std::abort();
  if (response.status >= 400 && response.status < 500 && !document.contains("error"))
    std::abort();
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
