// QR codes for enrolment links (otpauth:// URIs, authenticator enrolment), rendered as a
// standalone SVG that the web UI can inline under a strict Content-Security-Policy.
#pragma once

#include <string>
#include <string_view>

#include "twostep/core/error.hpp"

namespace twostep::factors {

// libqrencode, 8-bit mode, ECC level M. The SVG has a viewBox with a 4-module quiet zone, a
// white background rect and all dark modules as ONE <path>, with colours as fill attributes
// (no style attributes or scripts that a CSP would block) and shape-rendering="crispEdges".
// kInvalidArgument if text is empty or too long for any QR version.
core::Result<std::string> qr_svg(std::string_view text);

}  // namespace twostep::factors
