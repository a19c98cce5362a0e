#include "agent/internal/rehearsal.h"

#include <string_view>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/key_access.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/profile/issuing.h"
#include "mailseal/smime/io.h"
#include "mailseal/smime/smime.h"
#include "mailseal/store/sqlite.h"

namespace mailseal::agent {

namespace {

constexpr std::string_view kAddress = "rehearsal@mailseal.invalid";
constexpr std::string_view kMessage =
    "From: rehearsal@mailseal.invalid\r\nTo: rehearsal@mailseal.invalid\r\nSubject: rehearsal\r\n\r\n"
    "Signed with a throwaway key in an idle child, and dropped.\r\n";

// As a command's first statement does: open, parse a definition, prepare,
// bind and step.
void rehearse_a_statement() {
  store::Database database = store::Database::open(":memory:", store::OpenMode::ReadWriteCreate);
  database.execute("CREATE TABLE rehearsal (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, data BLOB);");
  store::Statement statement = database.prepare("SELECT id, name, data FROM rehearsal WHERE name = ?1 ORDER BY id");
  statement.bind(1, kAddress);
  [[maybe_unused]] const bool found = statement.step();
}

}  // namespace

Rehearsal make_rehearsal(TimePoint now) {
  const EmailAddress address = EmailAddress::parse(kAddress);
  const crypto::PrivateKey root_key = crypto::PrivateKey::generate(crypto::KeyType::P256);
  const crypto::Certificate root = profile::issue_root_certificate(root_key, "rehearsal", {address}, now);
  auto [record, file] =
      profile::issue_mail_key(root_key, root, "rehearsal", address, store::KeyPurpose::Signing, store::Suite::Modern,
                              KeyAccess::unencrypted(), now, smime::Capabilities::mailseal());
  return Rehearsal{std::move(file.pem), std::move(record.certificate), root.der(), now};
}

void rehearse_a_signature(const Rehearsal& rehearsal, const std::function<bool()>& stop) {
  const crypto::PrivateKey key =
      profile::read_key_file_pem(as_string_view(rehearsal.key_pem), KeyAccess::unencrypted());
  if (stop())
    return;
  std::vector<crypto::Certificate> chain;
  chain.push_back(crypto::Certificate::from_der(rehearsal.issuer));
  const smime::SignerIdentity signer{.key = &key,
                                     .certificate = crypto::Certificate::from_der(rehearsal.certificate),
                                     .chain = std::move(chain),
                                     .capabilities = smime::Capabilities::mailseal(),
                                     .signing_time = rehearsal.made_at};
  if (stop())
    return;
  rehearse_a_statement();
  if (stop())
    return;
  smime::MemorySource source(as_bytes(kMessage));
  smime::OutgoingMessage message = smime::OutgoingMessage::read(source);
  smime::StringSink out;
  smime::sign_message(message, out, signer, smime::SignatureForm::Detached, rehearsal.made_at);
}

}  // namespace mailseal::agent
