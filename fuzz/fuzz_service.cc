// The key service's API on untrusted requests: the input is
//   METHOD \n TARGET \n CONTENT-TYPE \n AUTHORIZATION \n BODY
// answered by one Api over a throw-away database. Property: nothing crashes,
// every answer is a JSON object, and every refusal is a 4xx with an error.

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
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("mailseal-fuzz-service-" + std::to_string(::getpid()) + ".db");
  ScratchDatabase() { remove_files(); }
  ~ScratchDatabase() { remove_files(); }
  void remove_files() const {
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::filesystem::remove(std::filesystem::path(path.string() + suffix), ignored);
    }
  }
};

service::Api& api() {
  static const ScratchDatabase database;
  static service::Api instance(database.path);
  return instance;
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
  request.target = next_line(rest);
  request.content_type = next_line(rest);
  request.authorization = next_line(rest);
  request.body = std::string(rest);
  service::HttpResponse response = api().handle(request, from_unix_seconds(1800000000));
  auto document = nlohmann::json::parse(response.body, nullptr, false);
  if (document.is_discarded() || !document.is_object())
    std::abort();
  if (response.status >= 400 && response.status < 500 && !document.contains("error"))
    std::abort();
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
