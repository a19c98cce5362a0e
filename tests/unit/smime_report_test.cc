// How a signature and an encryption are described (smime.h): the address a
// signature is shown under, and the names of forms and key transports.

#include <gtest/gtest.h>

#include "mailseal/smime/smime.h"
#include "test_identities.h"

namespace mailseal::smime {
namespace {

TEST(SignerAddress, TheSignersAddressThatIsTheFromAddress) {
  SignatureReport report;
  report.signer = test::alice().signing;
  const EmailAddress alice = test::alice().address;
  EXPECT_EQ(signer_address(report, {alice}), alice.str());
  EXPECT_EQ(signer_address(report, {EmailAddress::parse("mallory@example.com")}), alice.str())
      << "another From: still the signer's own address, never the From";
  EXPECT_EQ(signer_address(report, {}), alice.str());
}

TEST(SignerAddress, NoneWithoutASignerCertificate) {
  EXPECT_EQ(signer_address(SignatureReport{}, {test::alice().address}), "");
  SignatureReport report;
  report.signer = test::alice().root;  // a root names no address of its own
  EXPECT_EQ(signer_address(report, {test::alice().address}), "");
}

TEST(Names, FormsAndKeyTransports) {
  EXPECT_EQ(to_string(SignatureForm::Detached), "detached");
  EXPECT_EQ(to_string(SignatureForm::Opaque), "opaque");
  EXPECT_EQ(key_transport({ContentCipher::Aes256Gcm, true}), "RSAES-OAEP");
  EXPECT_EQ(key_transport({ContentCipher::Aes256Cbc, false}), "RSAES-PKCS1-v1_5");
}

}  // namespace
}  // namespace mailseal::smime
