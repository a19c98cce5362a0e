// Thunderbird's saved passwords: the SDR envelope NSS writes (sdr.h) and the
// changes to logins.json (logins.h), over a stand-in cipher. The real NSS
// and Thunderbird's own are in tests/clients/thunderbird_logins.py.

#include <gtest/gtest.h>

#include <map>

#include <fmt/format.h>

#include "clients/internal/logins.h"
#include "clients/internal/sdr.h"
#include "fuzz/stand_in_cipher.h"
#include "mailseal/common/base64.h"
#include "mailseal/common/error.h"

namespace mailseal::clients::internal {
namespace {

using nlohmann::json;

// An envelope Thunderbird 153 wrote (its NSS, PK11SDR_EncryptWithMechanism
// with CKM_AES_CBC): a saved password of logins.json.
constexpr std::string_view kThunderbirdEnvelope =
    "MEMEEPgAAAAAAAAAAAAAAAAAAAEwHQYJYIZIAWUDBAEqBBD0W/APixZ4Y5taZA27OKB/BBCNo7/PnAxvZdHkEgGgZ1CX";

TEST(SdrEnvelope, ReadsWhatThunderbirdWroteAndWritesItAgainByteForByte) {
  const Bytes der = decode_base64(kThunderbirdEnvelope);
  const auto envelope = decode_sdr_envelope(der);
  ASSERT_TRUE(envelope);
  EXPECT_EQ(envelope->cipher, SdrCipher::Aes256Cbc);
  EXPECT_EQ(envelope->key_id, Bytes(std::begin(kSdrDefaultKeyId), std::end(kSdrDefaultKeyId)));
  EXPECT_EQ(envelope->iv.size(), 16u);
  EXPECT_EQ(envelope->ciphertext.size(), 16u);
  EXPECT_EQ(encode_sdr_envelope(*envelope), der);
}

TEST(SdrEnvelope, TripleDesAndLongCiphertextsRoundTrip) {
  SdrEnvelope envelope{Bytes(16, 7), SdrCipher::TripleDesCbc, Bytes(8, 1), Bytes(8 * 40, 2)};  // a long length
  const auto back = decode_sdr_envelope(encode_sdr_envelope(envelope));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->cipher, SdrCipher::TripleDesCbc);
  EXPECT_EQ(back->ciphertext, envelope.ciphertext);
}

TEST(SdrEnvelope, RefusesWhatIsNotOne) {
  const Bytes good = decode_base64(kThunderbirdEnvelope);
  Bytes trailing = good;
  trailing.push_back(0);
  EXPECT_FALSE(decode_sdr_envelope(trailing));
  EXPECT_FALSE(decode_sdr_envelope(ByteView(good).first(good.size() - 1)));
  EXPECT_FALSE(decode_sdr_envelope({}));
  Bytes unknown_oid = good;
  unknown_oid[32] ^= 1;  // the last byte of the AES OID (2A)
  EXPECT_FALSE(decode_sdr_envelope(unknown_oid));
  // An IV of the wrong size, a ciphertext that is not whole blocks.
  EXPECT_FALSE(decode_sdr_envelope(encode_sdr_envelope({Bytes(16), SdrCipher::Aes256Cbc, Bytes(8), Bytes(16)})));
  EXPECT_FALSE(decode_sdr_envelope(encode_sdr_envelope({Bytes(16), SdrCipher::Aes256Cbc, Bytes(16), Bytes(15)})));
  EXPECT_FALSE(decode_sdr_envelope(encode_sdr_envelope({Bytes(16), SdrCipher::Aes256Cbc, Bytes(16), Bytes()})));
  // A length in the long form that fits the short one (not DER).
  Bytes long_form = {0x30, 0x81, 0x43};
  long_form.insert(long_form.end(), good.begin() + 2, good.end());
  EXPECT_FALSE(decode_sdr_envelope(long_form));
}

using fuzz::StandInCipher;  // "enc:" and the text

json entry(std::int64_t id, const std::string& origin, const std::string& user) {
  return {{"id", id},
          {"hostname", origin},
          {"httpRealm", origin},
          {"encryptedUsername", "enc:" + user},
          {"encryptedPassword", "enc:old"},
          {"guid", fmt::format("{{guid-{}}}", id)},
          {"timeCreated", 1}};
}

TEST(Logins, TheOriginIsWhatThunderbirdLooksUp) {
  EXPECT_EQ(smtp_login_origin("127.0.0.1"), "smtp://127.0.0.1");
  EXPECT_EQ(smtp_login_origin("::1"), "smtp://[::1]");
}

TEST(Logins, AddsAnEntryAndKeepsTheOthers) {
  json logins = parse_logins(R"({"nextId": 3, "logins": [], "version": 3, "later": {"kept": 1}})", "logins.json");
  logins["logins"].push_back(entry(7, "imap://mail.example.com", "alice"));
  logins["logins"].push_back(entry(8, "smtp://127.0.0.1", "bob"));  // another user of the same server
  const json others = logins["logins"];
  StandInCipher cipher;
  const Passphrase secret("s3cret");
  const StoredLogin stored =
      store_login(logins, {"smtp://127.0.0.1", "thunderbird", &secret}, cipher, from_unix_seconds(1700000000));
  EXPECT_FALSE(stored.replaced);
  ASSERT_EQ(logins["logins"].size(), 3u);
  EXPECT_EQ(logins["logins"][0], others[0]);
  EXPECT_EQ(logins["logins"][1], others[1]);
  const json& added = logins["logins"][2];
  EXPECT_EQ(added["id"], 9);  // past every id, not only nextId
  EXPECT_EQ(logins["nextId"], 10);
  EXPECT_EQ(added["encryptedUsername"], "enc:thunderbird");
  EXPECT_EQ(added["encryptedPassword"], "enc:s3cret");
  EXPECT_EQ(added["formSubmitURL"], nullptr);
  EXPECT_EQ(added["timePasswordChanged"], 1700000000000);
  EXPECT_EQ(logins["later"]["kept"], 1);
}

TEST(Logins, ReplacesItsOwnEntryOnceAndDropsDuplicatesButNotTombstones) {
  json logins = empty_logins();
  logins["logins"].push_back(entry(1, "smtp://127.0.0.1", "thunderbird"));
  logins["logins"].push_back(entry(2, "smtp://127.0.0.1", "thunderbird"));
  json tombstone = entry(3, "smtp://127.0.0.1", "thunderbird");
  tombstone["deleted"] = true;
  logins["logins"].push_back(tombstone);
  json other_key = entry(4, "smtp://127.0.0.1", "x");
  other_key["encryptedUsername"] = "not ours to read";
  logins["logins"].push_back(other_key);
  StandInCipher cipher;
  const Passphrase secret("new");
  const StoredLogin stored =
      store_login(logins, {"smtp://127.0.0.1", "thunderbird", &secret}, cipher, from_unix_seconds(1800000000));
  EXPECT_TRUE(stored.replaced);
  EXPECT_EQ(stored.duplicates_removed, 1);
  ASSERT_EQ(logins["logins"].size(), 3u);
  EXPECT_EQ(logins["logins"][0]["guid"], "{guid-1}");
  EXPECT_EQ(logins["logins"][0]["encryptedPassword"], "enc:new");
  EXPECT_EQ(logins["logins"][0]["timeCreated"], 1);
  EXPECT_EQ(logins["logins"][0]["timePasswordChanged"], 1800000000000);
  EXPECT_EQ(logins["logins"][1], tombstone);
  EXPECT_EQ(logins["logins"][2], other_key);
}

TEST(Logins, RefusesToGiveOutAnIdPastTheLargestJavaScriptHoldsExactly) {
  constexpr std::int64_t largest = (std::int64_t{1} << 53) - 1;
  StandInCipher cipher;
  const Passphrase secret("s3cret");
  const ServerLogin login{"smtp://127.0.0.1", "thunderbird", &secret};
  // nextId at 2^53 - 1: a new entry would leave it at 2^53.
  json logins = parse_logins(R"({"nextId": 9007199254740991, "logins": []})", "logins.json");
  const json before = logins;
  try {
    store_login(logins, login, cipher, from_unix_seconds(1700000000));
    ADD_FAILURE() << "gave out the largest id";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Unsupported);
    EXPECT_NE(std::string(error.what()).find("9007199254740992"), std::string::npos) << error.what();
    EXPECT_FALSE(error.hint().empty());
  }
  EXPECT_EQ(logins, before) << "nothing changed";
  // The same from an entry's id (nextId lower), and what was written is always read back.
  json by_entry = empty_logins();
  by_entry["logins"].push_back(entry(largest, "imap://mail.example.com", "alice"));
  by_entry["logins"].push_back(entry(largest - 1, "imap://mail.example.com", "bob"));
  EXPECT_THROW(store_login(by_entry, login, cipher, from_unix_seconds(1700000000)), Error);
  json last = empty_logins();
  last["nextId"] = largest - 1;
  store_login(last, login, cipher, from_unix_seconds(1700000000));
  EXPECT_EQ(last["logins"][0]["id"], largest - 1);
  EXPECT_EQ(last["nextId"], largest);
  EXPECT_NO_THROW(parse_logins(last.dump(), "logins.json"));
  // Replacing its own entry needs no new id.
  json own = parse_logins(R"({"nextId": 9007199254740991, "logins": []})", "logins.json");
  own["logins"].push_back(entry(5, "smtp://127.0.0.1", "thunderbird"));
  EXPECT_TRUE(store_login(own, login, cipher, from_unix_seconds(1700000000)).replaced);
  EXPECT_NO_THROW(parse_logins(own.dump(), "logins.json"));
}

TEST(Logins, RefusesADocumentThunderbirdCouldNotLoad) {
  for (std::string_view text : {"", "[", "[]", R"({"logins": {}})", R"({"logins": [1]})", R"({"nextId": -1})",
                                R"({"nextId": "2"})"}) {
    try {
      parse_logins(text, "/p/logins.json");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::Malformed) << text;
      EXPECT_NE(std::string(error.what()).find("/p/logins.json"), std::string::npos) << text;
      EXPECT_FALSE(error.hint().empty());
    }
  }
  EXPECT_NO_THROW(parse_logins("{}", "logins.json"));
}

}  // namespace
}  // namespace mailseal::clients::internal
