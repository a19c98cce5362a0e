#pragma once
// `mailseal serve`: the key service's API over HTTP or HTTPS (cpp-httplib),
// one SQLite database, a thread pool for concurrent clients.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace mailseal::service {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  std::filesystem::path database = "mailseal-service.db";
  std::optional<std::filesystem::path> tls_certificate;
  std::optional<std::filesystem::path> tls_key;
};

class Server {
 public:
  explicit Server(const ServeOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds; Error(Io) if the address cannot be used. Returns the port.
  int bind();
  // Serves until stop() is called (from another thread or a signal).
  void run();
  void stop();
  std::string url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailseal::service
