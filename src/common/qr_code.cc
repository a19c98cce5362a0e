#include "mailseal/common/qr_code.h"

#include <memory>

#include <qrencode.h>

namespace mailseal {

namespace {

struct QrFree {
  void operator()(QRcode* code) const noexcept { QRcode_free(code); }
};
using QrHandle = std::unique_ptr<QRcode, QrFree>;

}  // namespace

bool QrCode::dark(int x, int y) const noexcept {
  return x >= 0 && y >= 0 && x < width && y < width && modules[static_cast<std::size_t>(y * width + x)];
}

std::optional<QrCode> encode_qr(const std::string& text) {
  QrHandle code(QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1));
  if (!code)
    return std::nullopt;
  QrCode out;
  out.width = code->width;
  out.modules.resize(static_cast<std::size_t>(code->width) * static_cast<std::size_t>(code->width));
  for (std::size_t i = 0; i < out.modules.size(); ++i)
    out.modules[i] = (code->data[i] & 1) != 0;  // the lowest bit: dark; the others say what the module is
  return out;
}

}  // namespace mailseal
