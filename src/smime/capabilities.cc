#include "mailseal/smime/capabilities.h"

#include <sstream>

#include "common/openssl.h"
#include "mailseal/common/error.h"

namespace mailseal::smime {

namespace {

struct Entry {
  int nid;
  bool Capabilities::*flag;
  std::string_view name;
};

// In preference order (RFC 8551 section 2.5.2: the list is ordered).
constexpr Entry kEntries[] = {
    {NID_aes_256_gcm, &Capabilities::aes256_gcm, "aes256-gcm"},
    {NID_aes_128_gcm, &Capabilities::aes128_gcm, "aes128-gcm"},
    {NID_aes_256_cbc, &Capabilities::aes256_cbc, "aes256-cbc"},
    {NID_aes_128_cbc, &Capabilities::aes128_cbc, "aes128-cbc"},
    {NID_rsaesOaep, &Capabilities::rsaes_oaep, "rsaes-oaep"},
};

}  // namespace

Capabilities Capabilities::mailseal() {
  Capabilities capabilities;
  capabilities.advertised = true;
  for (const auto& entry : kEntries)
    capabilities.*entry.flag = true;
  return capabilities;
}

Capabilities Capabilities::cbc_only() {
  Capabilities capabilities;
  capabilities.advertised = true;
  capabilities.aes256_cbc = true;
  capabilities.aes128_cbc = true;
  return capabilities;
}

Capabilities Capabilities::of_certificate_extension(const std::optional<Bytes>& extension) {
  return extension ? from_der(*extension) : Capabilities{};
}

Capabilities Capabilities::from_der(ByteView der) {
  const unsigned char* cursor = der.data();
  ossl::X509AlgorStack algorithms(d2i_X509_ALGORS(nullptr, &cursor, static_cast<long>(der.size())));
  Capabilities capabilities;
  if (!algorithms) {
    ossl::take_errors();
    return capabilities;  // unreadable capabilities are no evidence of anything
  }
  capabilities.advertised = true;
  for (int i = 0; i < sk_X509_ALGOR_num(algorithms.get()); ++i) {
    const ASN1_OBJECT* oid = nullptr;
    X509_ALGOR_get0(&oid, nullptr, nullptr, sk_X509_ALGOR_value(algorithms.get(), i));
    int nid = OBJ_obj2nid(oid);
    for (const auto& entry : kEntries) {
      if (entry.nid == nid)
        capabilities.*entry.flag = true;
    }
  }
  return capabilities;
}

Bytes Capabilities::to_der() const {
  ossl::X509AlgorStack algorithms(ossl::check_ptr(sk_X509_ALGOR_new_null(), "cannot allocate capabilities"));
  for (const auto& entry : kEntries) {
    if (!(this->*entry.flag))
      continue;
    ossl::X509Algor algorithm(ossl::check_ptr(X509_ALGOR_new(), "cannot allocate capabilities"));
    ossl::check(X509_ALGOR_set0(algorithm.get(), OBJ_nid2obj(entry.nid), V_ASN1_UNDEF, nullptr),
                "cannot set a capability");
    ossl::check(sk_X509_ALGOR_push(algorithms.get(), algorithm.get()), "cannot add a capability");
    algorithm.release();
  }
  unsigned char* der = nullptr;
  int length = i2d_X509_ALGORS(algorithms.get(), &der);
  ossl::check(length, "cannot encode capabilities");
  ossl::OpensslBytes owned(der);
  return Bytes(der, der + length);
}

std::string Capabilities::to_string() const {
  std::string out;
  for (const auto& entry : kEntries) {
    if (!(this->*entry.flag))
      continue;
    if (!out.empty())
      out.push_back(',');
    out.append(entry.name);
  }
  return advertised ? (out.empty() ? std::string("none") : out) : std::string();
}

Capabilities Capabilities::parse(std::string_view text) {
  Capabilities capabilities;
  if (text.empty())
    return capabilities;
  capabilities.advertised = true;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = std::min(text.find(',', start), text.size());
    std::string_view name = text.substr(start, end - start);
    for (const auto& entry : kEntries) {
      if (entry.name == name)
        capabilities.*entry.flag = true;
    }
    start = end + 1;
  }
  return capabilities;
}

}  // namespace mailseal::smime
