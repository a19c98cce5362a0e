#pragma once
// An OpenSSL BIO that writes into a ByteSink, so CMS streaming (BIO_new_CMS,
// i2d_CMS_bio) lands in mailseal's sinks. Exceptions thrown by the sink are
// caught at the C boundary and rethrown by rethrow_if_failed().

#include <exception>

#include "common/openssl.h"
#include "mailseal/smime/io.h"

namespace mailseal::smime::internal {

class SinkBio {
 public:
  explicit SinkBio(ByteSink& sink);
  BIO* get() const noexcept { return bio_.get(); }
  // Hands the BIO to OpenSSL (e.g. as the end of a chain that it frees).
  BIO* release() noexcept { return bio_.release(); }
  void rethrow_if_failed();

  struct State {
    ByteSink* sink;
    std::exception_ptr error;
  };

 private:
  State state_;
  ossl::Bio bio_;
};

}  // namespace mailseal::smime::internal
