#include "twostep/crypto/keyring.hpp"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>
#include <stdexcept>
#include <vector>

#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/private_file.hpp"
#include "twostep/crypto/random.hpp"
#include "twostep/crypto/sodium_init.hpp"

namespace twostep::crypto {

struct Keyring::Keys {
  std::map<uint32_t, std::array<unsigned char, kKeySize>> by_id;
  std::set<uint32_t> staged;  // added (`twostep key add`) but not current yet
  ~Keys() {
    for (auto& [id, key] : by_id) sodium_memzero(key.data(), key.size());
  }
};

namespace {

constexpr std::size_t kHeaderSize = 1 + 4;
constexpr std::size_t kNonceSize = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagSize = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::size_t kMaxFileSize = 1 << 20;
// Fixed HKDF salt: domain separation from any other use of the master key.
constexpr std::string_view kDeriveSalt = "twostep keyring derive v1";

const PrivateFileLabel kFileLabel{"master_key", "master key file"};

core::Error file_error(const std::string& path, const std::string& what, std::string detail = {}) {
  return core::Error{core::Code::kFailedPrecondition, kFileLabel.reason,
                     kFileLabel.noun + " " + path + ": " + what, std::move(detail), 0};
}

// Wipes a std::string's bytes before it is freed.
struct Wiped {
  std::string s;
  ~Wiped() {
    if (!s.empty()) sodium_memzero(s.data(), s.size());
  }
};

// One line of the key file (a view into the file's text, without its '\n').
struct FileLine {
  enum Kind { kOther, kKey, kStaged, kRetired } kind = kOther;  // kOther: blank or a comment
  uint32_t id = 0;                                              // kKey, kStaged, kRetired
  std::string_view text;
};

struct ParsedFile {
  std::shared_ptr<Keyring::Keys> keys;
  uint32_t current = 0;
  uint32_t highest_retired = 0;  // 0: no key was retired
  std::vector<FileLine> lines;
};

std::string_view trimmed(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
    line.remove_suffix(1);
  }
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  return line;
}

bool starts_with_word(std::string_view* s, std::string_view word) {
  if (s->substr(0, word.size()) != word) return false;
  s->remove_prefix(word.size());
  *s = trimmed(*s);
  return true;
}

// A marker, a comment (older versions skip it): "# <word> key <id> ...", e.g. word "staged:".
// nullopt for any other comment.
std::optional<uint32_t> key_marker(std::string_view comment, std::string_view word) {
  comment = trimmed(comment.substr(1));
  if (!starts_with_word(&comment, word) || !starts_with_word(&comment, "key")) {
    return std::nullopt;
  }
  uint32_t id = 0;
  auto [p, ec] = std::from_chars(comment.data(), comment.data() + comment.size(), id);
  if (ec != std::errc() || p == comment.data()) return std::nullopt;
  if (p != comment.data() + comment.size() && *p != ' ' && *p != '\t') return std::nullopt;
  return id;
}

// Parses "<id> <64 hex>" lines; the last key is the current one; a staged marker makes a key
// that is not the current one "staged".
core::Result<ParsedFile> parse_keys(const std::string& path, std::string_view text,
                                    std::size_t key_size) {
  ParsedFile out;
  out.keys = std::make_shared<Keyring::Keys>();
  auto& keys = out.keys;
  std::size_t line_no = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    FileLine& entry = out.lines.emplace_back();
    entry.text = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    std::string_view line = trimmed(entry.text);
    if (line.empty()) continue;
    if (line.front() == '#') {
      if (auto id = key_marker(line, "staged:")) {
        entry.kind = FileLine::kStaged;
        entry.id = *id;
      } else if (auto retired = key_marker(line, "retired:")) {
        entry.kind = FileLine::kRetired;
        entry.id = *retired;
        out.highest_retired = std::max(out.highest_retired, *retired);
      }
      continue;
    }

    const std::string where = "line " + std::to_string(line_no);
    auto sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos) {
      return tl::unexpected(file_error(path, where + ": expected \"<key_id> <64 hex chars>\""));
    }
    std::string_view id_text = line.substr(0, sp);
    std::string_view hex = line.substr(sp);
    while (!hex.empty() && (hex.front() == ' ' || hex.front() == '\t')) hex.remove_prefix(1);

    uint32_t id = 0;
    auto [p, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
    if (ec != std::errc() || p != id_text.data() + id_text.size()) {
      return tl::unexpected(file_error(path, where + ": key id must be a number"));
    }
    if (id == Keyring::kLegacyKeyId) {
      return tl::unexpected(file_error(path, where + ": key ids start at 1 (0 is reserved)"));
    }
    if (hex.size() != key_size * 2) {
      return tl::unexpected(
          file_error(path, where + ": key must be " + std::to_string(key_size * 2) + " hex chars"));
    }
    auto raw = hex_decode(hex);
    if (!raw) return tl::unexpected(file_error(path, where + ": key is not hex"));
    Wiped bytes{std::move(*raw)};
    if (keys->by_id.count(id) != 0) {
      return tl::unexpected(file_error(path, where + ": duplicate key id " + std::to_string(id)));
    }
    auto& slot = keys->by_id[id];
    std::memcpy(slot.data(), bytes.s.data(), key_size);
    entry.kind = FileLine::kKey;
    entry.id = id;
    out.current = id;
  }
  if (keys->by_id.empty()) return tl::unexpected(file_error(path, "contains no key"));
  // Staged: added after the current key and not used since. A marker naming the current key
  // (made current by hand), an older one (a later key was made current, e.g. by `key rotate`)
  // or no key at all means nothing.
  for (const auto& l : out.lines) {
    if (l.kind == FileLine::kStaged && l.id > out.current && keys->by_id.count(l.id) != 0) {
      keys->staged.insert(l.id);
    }
  }
  return out;
}

EVP_KDF* hkdf_method() {
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) throw std::runtime_error("OpenSSL: HKDF unavailable");
  return kdf;
}

std::string hkdf_sha256(const std::array<unsigned char, Keyring::kKeySize>& ikm,
                        std::string_view info) {
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(hkdf_method());
  if (ctx == nullptr) throw std::runtime_error("OpenSSL: HKDF context failed");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(ikm.data()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(kDeriveSalt.data()),
                                        kDeriveSalt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end()};
  std::string out(32, '\0');
  int rc = EVP_KDF_derive(ctx, reinterpret_cast<unsigned char*>(out.data()), out.size(), params);
  EVP_KDF_CTX_free(ctx);
  if (rc != 1) throw std::runtime_error("OpenSSL: HKDF failed");
  return out;
}

void put_be32(unsigned char* p, uint32_t v) {
  p[0] = static_cast<unsigned char>(v >> 24);
  p[1] = static_cast<unsigned char>(v >> 16);
  p[2] = static_cast<unsigned char>(v >> 8);
  p[3] = static_cast<unsigned char>(v);
}

uint32_t get_be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// The AEAD's associated data: the blob header, then the caller's binding.
std::string aead_ad(const unsigned char* header, std::string_view associated_data) {
  std::string ad(reinterpret_cast<const char*>(header), kHeaderSize);
  ad.append(associated_data);
  return ad;
}

// The key file's text; nullopt when it does not exist.
core::Result<std::optional<core::Secret>> read_key_file(const std::string& path) {
  ensure_sodium();
  if (path.empty()) {
    return tl::unexpected(file_error(path, "no path configured (security.master_key_file)"));
  }
  return read_private_file(path, kMaxFileSize, kFileLabel);
}

}  // namespace

Keyring::Keyring(std::shared_ptr<const Keys> keys, uint32_t current_id)
    : keys_(std::move(keys)), current_id_(current_id) {}

core::Result<Keyring> Keyring::load_or_create(const std::string& path) {
  TS_ASSIGN_OR_RETURN(std::optional<core::Secret> text, read_key_file(path));
  if (!text) {
    Wiped key{random_bytes(kKeySize)};
    core::Secret content("1 " + hex_encode(key.s) + "\n");
    TS_ASSIGN_OR_RETURN(
        bool created, write_private_file(path, content.view(), WriteMode::kCreateOnly, kFileLabel));
    if (created) {
      text = std::move(content);
    } else {
      // Another process created it first: use that one.
      TS_ASSIGN_OR_RETURN(text, read_private_file(path, kMaxFileSize, kFileLabel));
      if (!text) return tl::unexpected(file_error(path, "disappeared while being created"));
    }
  }
  TS_ASSIGN_OR_RETURN(auto parsed, parse_keys(path, text->view(), kKeySize));
  return Keyring(std::move(parsed.keys), parsed.current);
}

core::Result<bool> Keyring::check_file(const std::string& path) {
  TS_ASSIGN_OR_RETURN(std::optional<core::Secret> text, read_key_file(path));
  if (!text) return false;
  TS_RETURN_IF_ERROR(parse_keys(path, text->view(), kKeySize));
  return true;
}

namespace {

// Reads, changes and atomically replaces an existing key file under an exclusive lock, so that
// two commands at once (threads or processes) never both edit the same text: the replacement
// is a new inode renamed over the path, so a lock taken on the old one is retried until the
// locked inode is the one the path names; then the file is read by path, with the other
// command's change in it. `edit` gets the parsed file and returns the new content (or an error:
// then nothing is written).
template <typename Edit>
core::Status edit_key_file(const std::string& path, Edit edit) {
  struct Lock {
    int fd = -1;
    ~Lock() {
      if (fd >= 0) ::close(fd);  // releases the lock
    }
  } lock;
  for (int attempt = 0; !path.empty(); ++attempt) {
    lock.fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (lock.fd < 0) break;  // missing or a link: read_key_file says so
    if (::flock(lock.fd, LOCK_EX) != 0) {
      return tl::unexpected(file_error(path, "cannot be locked", std::strerror(errno)));
    }
    struct stat locked {};
    struct stat named {};
    if (::fstat(lock.fd, &locked) == 0 && ::lstat(path.c_str(), &named) == 0 &&
        locked.st_dev == named.st_dev && locked.st_ino == named.st_ino) {
      break;
    }
    ::close(lock.fd);
    lock.fd = -1;
    if (attempt == 1000) return tl::unexpected(file_error(path, "keeps changing"));
  }
  TS_ASSIGN_OR_RETURN(std::optional<core::Secret> text, read_key_file(path));
  if (!text)
    return tl::unexpected(file_error(path, "does not exist (create it with twostep serve)"));
  TS_ASSIGN_OR_RETURN(ParsedFile parsed, parse_keys(path, text->view(), Keyring::kKeySize));
  core::Result<Wiped> content = edit(parsed);
  if (!content) return tl::unexpected(content.error());
  TS_RETURN_IF_ERROR(write_private_file(path, content->s, WriteMode::kReplace, kFileLabel));
  return core::ok();
}

void append_line(std::string& out, std::string_view line) {
  out.append(line);
  out.push_back('\n');
}

core::Error unknown_key(const std::string& path, uint32_t key_id) {
  return core::Error{core::Code::kNotFound,
                     "unknown_key",
                     kFileLabel.noun + " " + path + " has no key " + std::to_string(key_id) +
                         " (twostep key list)",
                     {},
                     0};
}

std::string staged_marker_line(uint32_t id) {
  return "# staged: key " + std::to_string(id) + " is not current yet; `twostep key use " +
         std::to_string(id) + "` makes it current";
}

}  // namespace

core::Result<uint32_t> Keyring::add_key(const std::string& path, AddMode mode) {
  uint32_t id = 0;
  TS_RETURN_IF_ERROR(edit_key_file(path, [&](const ParsedFile& f) -> core::Result<Wiped> {
    // A retired id is never given again: values made under it must not meet another key.
    const uint32_t highest = std::max(f.keys->by_id.rbegin()->first, f.highest_retired);
    if (highest == UINT32_MAX) {
      return tl::unexpected(file_error(path, "key id " + std::to_string(highest) + " is the last"));
    }
    id = highest + 1;
    Wiped key{random_bytes(kKeySize)};
    Wiped hex{hex_encode(key.s)};
    Wiped line{std::to_string(id) + " " + hex.s};
    Wiped out;
    for (const auto& l : f.lines) {
      // Staged: just before the current key, which stays the last key line, so that every
      // version of twostep (older ones know no marker) keeps the same current key.
      if (mode == AddMode::kStaged && l.kind == FileLine::kKey && l.id == f.current) {
        append_line(out.s, staged_marker_line(id));
        append_line(out.s, line.s);
      }
      append_line(out.s, l.text);
    }
    if (mode == AddMode::kCurrent) append_line(out.s, line.s);
    return out;
  }));
  return id;
}

core::Result<uint32_t> Keyring::use_key(const std::string& path, uint32_t key_id) {
  uint32_t previous = 0;
  TS_RETURN_IF_ERROR(edit_key_file(path, [&](const ParsedFile& f) -> core::Result<Wiped> {
    if (f.keys->by_id.count(key_id) == 0) {
      return tl::unexpected(unknown_key(path, key_id));
    }
    if (key_id == f.current) {
      return tl::unexpected(core::Error{
          core::Code::kFailedPrecondition,
          "already_current",
          "key " + std::to_string(key_id) + " is the current key already: nothing to do",
          {},
          0});
    }
    previous = f.current;
    // Every line stays, but this key's line moves to the end (the last key line is the current
    // one) and its staged markers go.
    Wiped out;
    std::string_view chosen;
    for (const auto& l : f.lines) {
      if (l.kind == FileLine::kStaged && l.id == key_id) continue;
      if (l.kind == FileLine::kKey && l.id == key_id) {
        chosen = trimmed(l.text);
        continue;
      }
      append_line(out.s, l.text);
    }
    append_line(out.s, chosen);
    return out;
  }));
  return previous;
}

core::Status Keyring::check_removable(const std::string& path, uint32_t key_id) const {
  auto refuse = [&](const char* reason, const std::string& why) {
    return tl::unexpected(core::Error{core::Code::kFailedPrecondition, reason,
                                      "key " + std::to_string(key_id) + " " + why, {}, 0});
  };
  if (!has(key_id)) {
    return tl::unexpected(unknown_key(path, key_id));
  }
  if (keys_->by_id.size() == 1) {
    return refuse("last_key", "is the only key of " + path + ": it cannot be retired");
  }
  if (key_id == current_id_) {
    return refuse("current_key",
                  "is the current key: make another key current first (twostep key rotate, "
                  "or key add and key use)");
  }
  if (staged(key_id)) {
    return refuse("staged_key",
                  "is staged (added, not current yet): other instances may be using it "
                  "already; run `twostep key use " +
                      std::to_string(key_id) + "` or keep it");
  }
  return core::ok();
}

core::Status Keyring::remove_key(const std::string& path, uint32_t key_id) {
  return edit_key_file(path, [&](const ParsedFile& f) -> core::Result<Wiped> {
    TS_RETURN_IF_ERROR(Keyring(f.keys, f.current).check_removable(path, key_id));
    Wiped out;
    for (const auto& l : f.lines) {
      if (l.kind == FileLine::kStaged && l.id == key_id) continue;
      if (l.kind == FileLine::kKey && l.id == key_id) {
        append_line(out.s, "# retired: key " + std::to_string(key_id) +
                               " (twostep key retire); its id is not given again");
        continue;
      }
      append_line(out.s, l.text);
    }
    return out;
  });
}

Keyring Keyring::from_keys(std::map<uint32_t, std::string> keys32, uint32_t current_id) {
  ensure_sodium();
  auto keys = std::make_shared<Keys>();
  for (auto& [id, key] : keys32) {
    if (key.size() != kKeySize) throw std::invalid_argument("Keyring: keys must be 32 bytes");
    if (id == kLegacyKeyId) throw std::invalid_argument("Keyring: key id 0 is reserved");
    std::memcpy(keys->by_id[id].data(), key.data(), kKeySize);
    sodium_memzero(key.data(), key.size());
  }
  if (keys->by_id.count(current_id) == 0) {
    throw std::invalid_argument("Keyring: current key id not among the keys");
  }
  return Keyring(std::move(keys), current_id);
}

uint32_t Keyring::current_id() const { return current_id_; }

std::vector<uint32_t> Keyring::ids() const {
  std::vector<uint32_t> out;
  for (const auto& [id, key] : keys_->by_id) out.push_back(id);
  return out;
}

bool Keyring::has(uint32_t key_id) const { return keys_->by_id.count(key_id) != 0; }

bool Keyring::staged(uint32_t key_id) const { return keys_->staged.count(key_id) != 0; }

core::Error Keyring::missing_key(uint32_t key_id) {
  return core::Error{core::Code::kUnavailable, "master_key_unavailable",
                     "This server does not have the master key that protects this value (a key "
                     "rotation is under way). Try again shortly.",
                     "keyring: unknown key id " + std::to_string(key_id), 30};
}

std::string Keyring::sealed_header(uint32_t key_id) {
  std::string out(kHeaderSize, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  p[0] = kVersion;
  put_be32(p + 1, key_id);
  return out;
}

std::optional<uint32_t> Keyring::sealed_key_id(std::string_view sealed) {
  const auto* p = reinterpret_cast<const unsigned char*>(sealed.data());
  if (sealed.size() < kHeaderSize || p[0] != kVersion) return std::nullopt;
  return get_be32(p + 1);
}

std::string Keyring::derive(std::string_view purpose) const {
  return hkdf_sha256(keys_->by_id.at(current_id_), purpose);
}

std::optional<std::string> Keyring::derive(std::string_view purpose, uint32_t key_id) const {
  auto it = keys_->by_id.find(key_id);
  if (it == keys_->by_id.end()) return std::nullopt;
  return hkdf_sha256(it->second, purpose);
}

std::string Keyring::seal(std::string_view plaintext, std::string_view associated_data) const {
  const auto& key = keys_->by_id.at(current_id_);
  std::string out(kHeaderSize + kNonceSize + plaintext.size() + kTagSize, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  p[0] = kVersion;
  put_be32(p + 1, current_id_);
  // 24-byte random nonces: collisions are negligible, so no counter state is needed.
  randombytes_buf(p + kHeaderSize, kNonceSize);
  std::string ad = aead_ad(p, associated_data);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      p + kHeaderSize + kNonceSize, &clen, reinterpret_cast<const unsigned char*>(plaintext.data()),
      plaintext.size(), reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr,
      p + kHeaderSize, key.data());
  out.resize(kHeaderSize + kNonceSize + static_cast<std::size_t>(clen));
  return out;
}

core::Result<core::Secret> Keyring::open(std::string_view sealed,
                                         std::string_view associated_data) const {
  if (sealed.size() < kHeaderSize + kNonceSize + kTagSize) {
    return core::internal("keyring: sealed blob truncated (" + std::to_string(sealed.size()) +
                          " bytes)");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(sealed.data());
  if (p[0] != kVersion) {
    return core::internal("keyring: unknown sealed blob version " + std::to_string(p[0]));
  }
  const uint32_t key_id = get_be32(p + 1);
  auto it = keys_->by_id.find(key_id);
  if (it == keys_->by_id.end()) return tl::unexpected(missing_key(key_id));
  const std::size_t clen = sealed.size() - kHeaderSize - kNonceSize;
  std::string plain(clen - kTagSize, '\0');
  std::string ad = aead_ad(p, associated_data);
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &mlen, nullptr,
          p + kHeaderSize + kNonceSize, clen, reinterpret_cast<const unsigned char*>(ad.data()),
          ad.size(), p + kHeaderSize, it->second.data()) != 0) {
    return core::internal(
        "keyring: authentication failed (tampered, wrong associated data or "
        "wrong key)");
  }
  plain.resize(static_cast<std::size_t>(mlen));
  return core::Secret(std::move(plain));
}

}  // namespace twostep::crypto
