#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/output.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/files.h"
#include "mailseal/udf/shamir.h"
#include "mailseal/udf/strong_address.h"
#include "mailseal/udf/udf.h"

namespace mailseal::cli {

namespace {

using nlohmann::json;

std::string_view type_name(std::uint8_t type) {
  if (type <= 1)
    return "authenticator";
  if ((type >= 80 && type <= 84) || (type >= 96 && type <= 100))
    return "content digest";
  switch (static_cast<udf::TypeId>(type)) {
    case udf::TypeId::EncryptionHkdfAes512:
    case udf::TypeId::EncryptionSignatureHkdfAes512:
      return "encryption key";
    case udf::TypeId::Nonce:
      return "nonce";
    case udf::TypeId::OidSequence:
      return "OID sequence";
    case udf::TypeId::ShamirShare:
      return "recovery share";
    case udf::TypeId::SecretSeed:
      return "secret seed";
    default:
      return "unknown";
  }
}

json describe_fingerprint(const udf::Fingerprint& fingerprint) {
  auto type = static_cast<std::uint8_t>(fingerprint.type());
  bool sha3 = type == 1 || (type >= 80 && type <= 84);
  return {{"kind", type_name(type)},
          {"type", type},
          {"algorithm", sha3 ? "SHA-3-512" : "SHA-2-512"},
          {"bits", fingerprint.precision_bits()},
          {"compression_bits", fingerprint.compression_bits()},
          {"work_factor_bits", fingerprint.work_factor_bits(fingerprint.precision_bits())},
          {"udf", fingerprint.to_string(fingerprint.precision_bits())}};
}

// A strong address, a fingerprint, or a fixed-length UDF, in that order.
json describe(std::string_view text) {
  if (udf::StrongAddress::looks_strong(text)) {
    auto strong = udf::StrongAddress::parse(text);
    json out = describe_fingerprint(strong.fingerprint);
    out["kind"] = "strong address";
    out["address"] = strong.address.str();
    return out;
  }
  try {
    return describe_fingerprint(udf::Fingerprint::parse(text));
  } catch (const Error& fingerprint_error) {
    udf::FixedUdf fixed;
    try {
      fixed = udf::parse_fixed(text);
    } catch (const Error&) {
      throw fingerprint_error;
    }
    auto type = static_cast<std::uint8_t>(fixed.type);
    json out = {{"kind", type_name(type)}, {"type", type}, {"bytes", fixed.data.size()}};
    if (fixed.type == udf::TypeId::ShamirShare) {
      auto share = udf::Share::parse(text);
      out["quorum"] = share.quorum;
      out["share"] = share.x;
    }
    secure_wipe(fixed.data.data(), fixed.data.size());
    return out;
  }
}

}  // namespace

int run_udf(const Context& context, const UdfArgs& args) {
  if (args.parse_given) {
    json description = describe(args.parse);
    if (context.json()) {
      print_json(description);
    } else {
      for (const auto& [key, value] : description.items()) {
        print_line(fmt::format("{:<18}{}", key,
                               escape_for_terminal(value.is_string() ? value.get<std::string>() : value.dump())));
      }
    }
    return 0;
  }
  if (args.bits % udf::kBitsPerGroup != 0) {
    throw Error(ErrorCode::Usage, "--bits must be a multiple of 20");
  }
  Bytes data = read_input(args.input);
  auto algorithm = args.sha3 ? udf::DigestAlgorithm::Sha3_512 : udf::DigestAlgorithm::Sha2_512;
  std::string fingerprint = udf::Fingerprint::of_content(algorithm, args.content_type, data).to_string(args.bits);
  if (context.json()) {
    print_json({{"udf", fingerprint},
                {"content_type", args.content_type},
                {"algorithm", args.sha3 ? "SHA-3-512" : "SHA-2-512"},
                {"bits", args.bits}});
  } else {
    print_line(fingerprint);
  }
  return 0;
}

}  // namespace mailseal::cli
