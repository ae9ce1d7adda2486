#include "twostep/api/metrics_access.hpp"

#include "twostep/crypto/hash.hpp"
#include "twostep/crypto/private_file.hpp"
#include "twostep/http/message.hpp"

namespace twostep::api {
namespace {

constexpr std::size_t kMaxTokenFile = 4096;
constexpr std::size_t kMinToken = 16;

core::Error bad_token_file(const std::string& path, const std::string& what) {
  return core::Error{core::Code::kInvalidArgument,
                     "invalid_config",
                     "metrics.token_file " + path + ": " + what,
                     {},
                     0};
}

// The credentials of "Bearer <token>" (scheme in any case); nullopt for anything else.
std::optional<std::string_view> bearer(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size() ||
      !http::iequals(header.substr(0, kScheme.size()), kScheme)) {
    return std::nullopt;
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

}  // namespace

core::Result<MetricsAccess> MetricsAccess::load(const core::MetricsConfig& cfg) {
  MetricsAccess a;
  TS_ASSIGN_OR_RETURN(a.allow_, core::IpRanges::parse(cfg.allow, "metrics.allow"));
  if (cfg.token_file.empty()) return a;
  const std::string& path = cfg.token_file;
  TS_ASSIGN_OR_RETURN(
      std::optional<core::Secret> file,
      crypto::read_private_file(path, kMaxTokenFile,
                                crypto::PrivateFileLabel{"invalid_config", "metrics.token_file"}));
  if (!file) return tl::unexpected(bad_token_file(path, "does not exist"));
  std::string_view token = file->view();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.remove_suffix(1);
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return tl::unexpected(
          bad_token_file(path, "must hold one token of printable ASCII without blanks"));
    }
  }
  if (token.size() < kMinToken) {
    return tl::unexpected(bad_token_file(
        path, "the token must have at least " + std::to_string(kMinToken) + " characters"));
  }
  a.token_sha256_ = crypto::sha256(token);
  return a;
}

MetricsAccess::Verdict MetricsAccess::check(std::string_view client_addr,
                                            std::optional<std::string_view> authorization,
                                            bool forwarded_untrusted) const {
  if (allow_.empty()) return Verdict::kOff;
  if (forwarded_untrusted) return Verdict::kUntrustedProxy;
  if (!allow_.contains(client_addr)) return Verdict::kAddressRefused;
  if (!token_sha256_) return Verdict::kAllowed;
  std::optional<std::string_view> sent = authorization ? bearer(*authorization) : std::nullopt;
  if (!sent) return Verdict::kTokenMissing;
  return crypto::ct_equal(crypto::sha256(*sent), *token_sha256_) ? Verdict::kAllowed
                                                                 : Verdict::kTokenWrong;
}

}  // namespace twostep::api
