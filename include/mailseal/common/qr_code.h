#pragma once
// QR codes of short texts (strong addresses, pairing links), as a matrix of
// modules that each caller draws its own way: half blocks on a terminal, an
// inline SVG on a page. libqrencode is used here only, its handles owned here.

#include <optional>
#include <string>
#include <vector>

namespace mailseal {

struct QrCode {
  int width = 0;              // modules per side, without the quiet zone
  std::vector<bool> modules;  // row by row; true: dark

  // Outside the symbol (the quiet zone) is light.
  bool dark(int x, int y) const noexcept;
};

// The code of `text` (byte mode, error correction level M, the smallest
// version that holds it); nullopt when no version holds it.
std::optional<QrCode> encode_qr(const std::string& text);

}  // namespace mailseal
