#include "cli/commands.h"
#include "cli/output.h"
#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/udf/udf.h"

namespace mailseal::cli {

int run_udf(const Context& context, const UdfArgs& args) {
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
