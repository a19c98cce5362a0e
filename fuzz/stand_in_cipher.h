#pragma once
// A stand-in for NSS's SDR where logins.json is tested without a key
// database: "enc:" and the text, so that what was stored can be read back.
// For fuzz_thunderbird_logins and tests/unit/clients_test.cc (which include
// it from here).

#include <optional>
#include <string>
#include <string_view>

#include "clients/internal/sdr.h"

namespace mailseal::fuzz {

class StandInCipher final : public clients::internal::LoginCipher {
 public:
  std::string encrypt(std::string_view text) override { return "enc:" + std::string(text); }
  std::optional<std::string> decrypt(std::string_view text) override {
    if (!text.starts_with("enc:"))
      return std::nullopt;
    return std::string(text.substr(4));
  }
};

}  // namespace mailseal::fuzz
