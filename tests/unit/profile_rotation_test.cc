// Choosing the successor of a rotation from the new profile's exported
// certificates (profile/profile.h), as `export rotation FILE` does.

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/profile/profile.h"
#include "test_identities.h"

namespace mailseal::profile {
namespace {

std::string pem_of(std::initializer_list<const crypto::Certificate*> certificates) {
  std::string pem;
  for (const crypto::Certificate* certificate : certificates)
    pem += certificate->pem();
  return pem;
}

TEST(RotationSuccessor, TheRootAfterTheMailCertificates) {
  const test::Person& bob = test::bob();
  std::string exported = pem_of({&bob.signing, &bob.encryption, &bob.root});
  EXPECT_EQ(rotation_successor(as_bytes(exported)), bob.root);
}

TEST(RotationSuccessor, TheLastRootWhenThereAreSeveral) {
  const test::Person& alice = test::alice();
  const test::Person& bob = test::bob();
  std::string exported = pem_of({&alice.root, &bob.encryption, &bob.root});
  EXPECT_EQ(rotation_successor(as_bytes(exported)), bob.root);
}

TEST(RotationSuccessor, MailCertificatesAloneHoldNoRoot) {
  const test::Person& bob = test::bob();
  std::string exported = pem_of({&bob.signing, &bob.encryption});
  try {
    rotation_successor(as_bytes(exported));
    FAIL() << "a mail certificate was taken for a root";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Usage);
    EXPECT_NE(std::string(error.what()).find("no profile root"), std::string::npos) << error.what();
  }
}

TEST(RotationSuccessor, NoCertificatesAtAll) {
  EXPECT_THROW(rotation_successor(as_bytes(std::string("not a certificate"))), Error);
}

}  // namespace
}  // namespace mailseal::profile
