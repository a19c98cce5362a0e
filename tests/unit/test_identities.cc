#include "test_identities.h"

namespace mailseal::test {

Person make_person(const std::string& text, bool ec) {
  using namespace std::chrono_literals;
  auto address = EmailAddress::parse(text);
  auto now = mailseal::now();
  auto type = ec ? crypto::KeyType::P256 : crypto::KeyType::Rsa2048;
  crypto::PrivateKey root_key = crypto::PrivateKey::generate(type);
  crypto::Certificate root = crypto::issue_certificate({.role = crypto::CertificateRole::ProfileRoot,
                                                        .common_name = text,
                                                        .permitted_addresses = {address},
                                                        .not_before = now - 1h,
                                                        .not_after = now + 24h * 30},
                                                       root_key.public_key(), root_key, nullptr);
  crypto::PrivateKey signing_key = crypto::PrivateKey::generate(type);
  crypto::Certificate signing = crypto::issue_certificate({.role = crypto::CertificateRole::MailSigning,
                                                           .common_name = text,
                                                           .addresses = {address},
                                                           .not_before = now - 1h,
                                                           .not_after = now + 24h * 30},
                                                          signing_key.public_key(), root_key, &root);
  crypto::PrivateKey encryption_key = crypto::PrivateKey::generate(type);
  crypto::Certificate encryption = crypto::issue_certificate({.role = crypto::CertificateRole::MailEncryption,
                                                              .common_name = text,
                                                              .addresses = {address},
                                                              .not_before = now - 1h,
                                                              .not_after = now + 24h * 30},
                                                             encryption_key.public_key(), root_key, &root);
  return Person{address, std::move(root_key),       std::move(root),      std::move(signing_key),
                signing, std::move(encryption_key), std::move(encryption)};
}

const Person& alice() {
  static const Person person = make_person("alice@example.com");
  return person;
}

const Person& bob() {
  static const Person person = make_person("bob@example.org");
  return person;
}

}  // namespace mailseal::test
