#include "twostep/factors/push.hpp"

#include <sodium.h>

#include <stdexcept>

#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/hash.hpp"
#include "twostep/crypto/random.hpp"
#include "twostep/crypto/sodium_init.hpp"

namespace twostep::factors::push {
namespace {

constexpr std::string_view kVersionLine = "twostep-auth-v1";
constexpr std::string_view kUriPrefix = "twostep://enroll?";

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

KeyPair generate_keypair() {
  crypto::ensure_sodium();
  std::string pk(kPublicKeySize, '\0');
  std::string sk(kSecretKeySize, '\0');
  crypto_sign_keypair(reinterpret_cast<unsigned char*>(pk.data()),
                      reinterpret_cast<unsigned char*>(sk.data()));
  return KeyPair{std::move(pk), core::Secret(std::move(sk))};
}

std::string signing_string(std::string_view method, std::string_view target,
                           std::string_view device_id, int64_t timestamp_ms,
                           std::string_view body) {
  std::string s;
  s.reserve(kVersionLine.size() + method.size() + target.size() + device_id.size() + 96);
  s.append(kVersionLine).push_back('\n');
  s.append(method).push_back('\n');
  s.append(target).push_back('\n');
  s.append(device_id).push_back('\n');
  s.append(std::to_string(timestamp_ms)).push_back('\n');
  s.append(crypto::sha256_hex(body));
  return s;
}

std::string sign(std::string_view secret_key, std::string_view message) {
  if (secret_key.size() != kSecretKeySize) {
    throw std::invalid_argument("push::sign: the secret key must be 64 bytes");
  }
  crypto::ensure_sodium();
  std::string sig(kSignatureSize, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr, bytes(message),
                       message.size(), bytes(secret_key));
  return sig;
}

bool verify(std::string_view public_key, std::string_view message, std::string_view signature) {
  if (public_key.size() != kPublicKeySize || signature.size() != kSignatureSize) return false;
  crypto::ensure_sodium();
  return crypto_sign_verify_detached(bytes(signature), bytes(message), message.size(),
                                     bytes(public_key)) == 0;
}

std::optional<int64_t> parse_timestamp(std::string_view text) {
  if (text.empty() || text.size() > 16) return std::nullopt;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string enrollment_uri(const Enrollment& e) {
  return std::string(kUriPrefix) + "server=" + crypto::percent_encode(e.server) +
         "&token=" + crypto::percent_encode(e.token) +
         "&account=" + crypto::percent_encode(e.account) +
         "&issuer=" + crypto::percent_encode(e.issuer);
}

std::optional<Enrollment> parse_enrollment_uri(std::string_view uri) {
  if (!starts_with(uri, kUriPrefix)) return std::nullopt;
  std::string_view rest = uri.substr(kUriPrefix.size());
  Enrollment e;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    auto value = crypto::percent_decode(pair.substr(eq + 1));
    if (!value) return std::nullopt;
    std::string_view key = pair.substr(0, eq);
    if (key == "server") {
      e.server = std::move(*value);
    } else if (key == "token") {
      e.token = std::move(*value);
    } else if (key == "account") {
      e.account = std::move(*value);
    } else if (key == "issuer") {
      e.issuer = std::move(*value);
    }
  }
  while (!e.server.empty() && e.server.back() == '/') e.server.pop_back();
  const bool http = starts_with(e.server, "http://") || starts_with(e.server, "https://");
  // No control characters anywhere (the fields end up in URLs, files and terminals), and no
  // spaces in the server and the token.
  auto clean = [](const std::string& f, bool spaces) {
    for (unsigned char c : f) {
      if (c < 0x20 || c == 0x7f || (c == ' ' && !spaces)) return false;
    }
    return true;
  };
  if (!http || e.token.empty() || !clean(e.server, false) || !clean(e.token, false) ||
      !clean(e.account, true) || !clean(e.issuer, true)) {
    return std::nullopt;
  }
  return e;
}

NumberChallenge new_number_challenge() {
  NumberChallenge c;
  // Three distinct numbers in 10..99; the first drawn is the right one, then it takes a
  // random place among the three.
  for (size_t i = 0; i < c.choices.size(); ++i) {
    for (;;) {
      int n = 10 + static_cast<int>(crypto::random_uniform(90));
      bool seen = false;
      for (size_t j = 0; j < i; ++j) seen = seen || c.choices[j] == n;
      if (!seen) {
        c.choices[i] = n;
        break;
      }
    }
  }
  c.number = c.choices[0];
  std::swap(c.choices[0], c.choices[crypto::random_uniform(3)]);
  return c;
}

std::string format_choices(const std::array<int, 3>& choices) {
  return std::to_string(choices[0]) + "," + std::to_string(choices[1]) + "," +
         std::to_string(choices[2]);
}

std::optional<std::array<int, 3>> parse_choices(std::string_view text) {
  std::array<int, 3> out{};
  for (size_t i = 0; i < out.size(); ++i) {
    size_t comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    if (part.size() != 2 || part[0] < '1' || part[0] > '9' || part[1] < '0' || part[1] > '9') {
      return std::nullopt;
    }
    out[i] = (part[0] - '0') * 10 + (part[1] - '0');
    const bool last = i + 1 == out.size();
    if (last != (comma == std::string_view::npos)) return std::nullopt;
    if (!last) text.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace twostep::factors::push
