#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/output.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/files.h"
#include "mailseal/udf/describe.h"
#include "mailseal/udf/udf.h"

namespace mailseal::cli {

namespace {

using nlohmann::json;

json description_json(const udf::UdfDescription& description) {
  json out = {{"kind", description.kind}, {"type", description.type}};
  if (description.fingerprint) {
    const udf::Fingerprint& fingerprint = *description.fingerprint;
    const int bits = fingerprint.precision_bits();
    out["algorithm"] = udf::to_string(udf::digest_algorithm_of(description.type));
    out["bits"] = bits;
    out["compression_bits"] = fingerprint.compression_bits();
    out["work_factor_bits"] = fingerprint.work_factor_bits(bits);
    out["udf"] = fingerprint.to_string(bits);
  }
  if (description.address)
    out["address"] = description.address->str();
  if (description.bytes)
    out["bytes"] = *description.bytes;
  if (description.quorum)
    out["quorum"] = *description.quorum;
  if (description.share)
    out["share"] = *description.share;
  return out;
}

}  // namespace

int run_udf(const Context& context, const UdfArgs& args) {
  if (args.parse_given) {
    json description = description_json(udf::describe(args.parse));
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
  udf::check_precision(args.bits);
  Bytes data = read_input(args.input);
  auto algorithm = args.sha3 ? udf::DigestAlgorithm::Sha3_512 : udf::DigestAlgorithm::Sha2_512;
  std::string fingerprint = udf::Fingerprint::of_content(algorithm, args.content_type, data).to_string(args.bits);
  if (context.json()) {
    print_json({{"udf", fingerprint},
                {"content_type", args.content_type},
                {"algorithm", udf::to_string(algorithm)},
                {"bits", args.bits}});
  } else {
    print_line(fingerprint);
  }
  return 0;
}

}  // namespace mailseal::cli
