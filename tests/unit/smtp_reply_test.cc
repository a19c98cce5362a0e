// What the gateway writes into SMTP replies (smtp.h): printable US-ASCII only,
// whatever a client, an upstream or a message put into the text.

#include <gtest/gtest.h>

#include "mailseal/smtp/protocol.h"

namespace mailseal::smtp {
namespace {

TEST(SmtpReplyText, KeepsPrintableAscii) {
  EXPECT_EQ(smtp_reply_text("2.0.0 relayed: signed, encrypted (AES-256-GCM) \\ ok"),
            "2.0.0 relayed: signed, encrypted (AES-256-GCM) \\ ok");
}

TEST(SmtpReplyText, ReplacesEverythingElse) {
  EXPECT_EQ(smtp_reply_text("a\r\nb\x1b[31mc\x7f"
                            "d\xc3\xa9"),
            "a??b?[31mc?d??");
  EXPECT_EQ(smtp_reply_text(std::string("nul\0x", 5)), "nul?x");
}

TEST(SmtpReplyText, ATextCannotInjectAReply) {
  Reply answer = reply(550, "5.7.1 refused: evil\r\n250 2.0.0 accepted");
  EXPECT_EQ(answer.serialize(), "550 5.7.1 refused: evil??250 2.0.0 accepted\r\n");
}

}  // namespace
}  // namespace mailseal::smtp
