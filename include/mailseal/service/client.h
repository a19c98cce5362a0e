#pragma once
// A client of the key service: JSON over HTTP(S), requests signed as
// protocol.h describes. Answers are JSON documents; refusals become errors
// carrying the service's message.

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mailseal/crypto/keys.h"

namespace mailseal::service {

struct RequestSigner {
  const crypto::PrivateKey* key = nullptr;
  std::string key_id;  // "root", a device id, or "device"
};

// Percent-encodes one path segment (an address, a fingerprint).
std::string path_segment(std::string_view text);

class Client {
 public:
  // "http://host:port" or "https://host:port" (with $MAILSEAL_SERVICE_CA, a
  // PEM file of the CA to trust, for a service with its own CA).
  // Error(Usage) for anything else.
  explicit Client(std::string url);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  const std::string& url() const noexcept { return url_; }

  // Error(Io) when the service cannot be reached; Error(NotFound) for 404;
  // Error(RejectedByPolicy) for 401/403/409/429; Error(Malformed) for other
  // refusals and for answers that are not JSON.
  nlohmann::json get(const std::string& path, const RequestSigner* signer = nullptr);
  nlohmann::json send(std::string_view method, const std::string& path, const nlohmann::json& body,
                      const RequestSigner* signer);

 private:
  nlohmann::json call(std::string_view method, const std::string& path, const std::string& body,
                      const RequestSigner* signer);
  std::string url_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailseal::service
