#include "twostep/factors/qr.hpp"

#include <qrencode.h>

#include <cerrno>
#include <memory>
#include <string>

namespace twostep::factors {
namespace {

constexpr int kQuietZone = 4;  // modules of white border the QR spec asks for

struct QrFree {
  void operator()(QRcode* q) const { QRcode_free(q); }
};

}  // namespace

core::Result<std::string> qr_svg(std::string_view text) {
  if (text.empty()) {
    return core::fail(core::Code::kInvalidArgument, "invalid_qr_text",
                      "Nothing to encode in the QR code.");
  }
  std::unique_ptr<QRcode, QrFree> qr(
      QRcode_encodeData(static_cast<int>(text.size()),
                        reinterpret_cast<const unsigned char*>(text.data()), 0, QR_ECLEVEL_M));
  if (!qr) {
    if (errno == ERANGE || errno == EINVAL) {
      return core::fail(core::Code::kInvalidArgument, "invalid_qr_text",
                        "The text is too long for a QR code.",
                        "qrencode: " + std::to_string(text.size()) + " bytes");
    }
    return core::internal("qrencode failed, errno " + std::to_string(errno));
  }
  const int width = qr->width;
  const int total = width + 2 * kQuietZone;
  const std::string size = std::to_string(total);

  std::string svg;
  svg.reserve(static_cast<std::size_t>(width) * width * 4 + 256);
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + size + " " + size +
         "\" shape-rendering=\"crispEdges\">";
  svg += "<rect width=\"" + size + "\" height=\"" + size + "\" fill=\"#ffffff\"/>";
  svg += "<path fill=\"#000000\" d=\"";
  // One subpath per horizontal run of dark modules keeps the path short.
  for (int y = 0; y < width; ++y) {
    const unsigned char* row = qr->data + static_cast<std::size_t>(y) * width;
    for (int x = 0; x < width;) {
      if ((row[x] & 1) == 0) {
        ++x;
        continue;
      }
      int run = 1;
      while (x + run < width && (row[x + run] & 1) != 0) ++run;
      svg += "M" + std::to_string(x + kQuietZone) + " " + std::to_string(y + kQuietZone) + "h" +
             std::to_string(run) + "v1h-" + std::to_string(run) + "z";
      x += run;
    }
  }
  svg += "\"/></svg>";
  return svg;
}

}  // namespace twostep::factors
