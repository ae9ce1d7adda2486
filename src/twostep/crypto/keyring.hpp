// The master keys: secrets at rest (OTP seeds) are sealed with them and hash peppers are
// derived from them. Each key has an id stored in every sealed blob, so a new key can be
// added (rotation) while blobs sealed with older keys still open.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/core/error.hpp"
#include "twostep/core/secret.hpp"

namespace twostep::crypto {

class Keyring {
 public:
  // Loads the key file, or creates it with one fresh key (id 1) if missing: missing parent
  // directories are created 0700, the file 0600, written atomically (a concurrent start
  // loads the other's file instead of overwriting it).
  // File format (text): one key per line "<key_id> <64 hex chars>"; the last key line is the
  // current key; blank lines and lines starting with '#' are ignored, except the staged marker
  // "# staged: key <id> ..." (see add_key), which older versions skip as a comment. Key ids
  // are 1 to 2^32-1: 0 is reserved (kLegacyKeyId). Every key of the file is loaded: values
  // made under any of them open and check.
  // kFailedPrecondition (one clear message, never key bytes) if the file is malformed, is
  // not a regular file, is readable or writable by group/others, or cannot be read/created.
  static core::Result<Keyring> load_or_create(const std::string& path);
  // Reads and checks the key file as load_or_create does, without creating anything
  // (`twostep config check`): false when there is no file (load_or_create would create it),
  // the same errors otherwise.
  static core::Result<bool> check_file(const std::string& path);

  enum class AddMode {
    // `twostep key rotate`: appended as the last line, the current key for every process
    // that loads the file afterwards (one instance).
    kCurrent,
    // `twostep key add`: written with a staged marker line just before the current key's
    // line, which stays the last key line: every process (older versions too) loads the new
    // key and can open and check what it protects, but keeps sealing and hashing with the
    // current key until use_key makes the new one current (several instances).
    kStaged,
  };
  // Adds one fresh key with id (highest id + 1) to an existing key file. The file is replaced
  // atomically and stays 0600; comments and older keys are kept as they are. Returns the new
  // id. The same kFailedPrecondition errors as load_or_create (and the file is left
  // unchanged) when it is missing, malformed or not private; the new key's bytes are never
  // part of an error. Concurrent calls (threads or processes) are serialised by an exclusive
  // flock on the file: each adds its own id.
  static core::Result<uint32_t> add_key(const std::string& path, AddMode mode = AddMode::kCurrent);

  // `twostep key use`: makes key `key_id` of the file the current one by moving its line to
  // the end of the file (and dropping its staged marker); every other line, comments and keys,
  // stays. Atomic, 0600, locked like add_key. Returns the id that was current until now.
  // kNotFound (reason unknown_key) when the file has no such key, kFailedPrecondition (reason
  // already_current) when it is current already, and add_key's file errors; the file is
  // unchanged after any error.
  static core::Result<uint32_t> use_key(const std::string& path, uint32_t key_id);

  // `twostep key retire`: takes key `key_id` out of the file. Its line becomes the comment
  // "# retired: key <id> ..." (add_key never gives that id again, so a value made under the
  // retired key can never be mistaken for one of a later key), its staged markers go, and
  // every other line, the current key and the staged markers of other keys stay. Atomic, 0600,
  // locked like add_key. kNotFound (reason unknown_key) when the file has no such key;
  // kFailedPrecondition with reason last_key (the only key), current_key or staged_key (it
  // is waiting for use_key); add_key's file errors; the file is unchanged after any error.
  // Whether stored values still need the key is the caller's question (Store::key_usage).
  static core::Status remove_key(const std::string& path, uint32_t key_id);
  // remove_key's refusals (unknown_key, last_key, current_key, staged_key) for this keyring, as
  // loaded from `path`: `twostep key retire` asks before it revokes what depends on the key.
  core::Status check_removable(const std::string& path, uint32_t key_id) const;

  // For tests: every key must be 32 bytes, no id may be 0 and current_id must be one of them
  // (std::invalid_argument otherwise).
  static Keyring from_keys(std::map<uint32_t, std::string> keys32, uint32_t current_id);

  uint32_t current_id() const;
  // Every key id, ascending.
  std::vector<uint32_t> ids() const;
  bool has(uint32_t key_id) const;
  // Added with AddMode::kStaged (a marker in the file), with an id above the current key's:
  // waiting for use_key. Never the current key.
  bool staged(uint32_t key_id) const;

  // 32-byte subkey for a purpose ("recovery-pepper", "session-pepper", ...), derived from the
  // current master key with HKDF-SHA256; deterministic. Note that it changes when the
  // current key rotates: values hashed with it must be re-made or looked up by key id.
  std::string derive(std::string_view purpose) const;
  // The same derivation from a named key (e.g. the key id stored next to a long-lived
  // hash); nullopt if the keyring has no such key.
  std::optional<std::string> derive(std::string_view purpose, uint32_t key_id) const;

  // XChaCha20-Poly1305 with the current key. Output is binary:
  // version byte 0x01 | key id (4 bytes big-endian) | 24-byte random nonce | ciphertext+tag.
  // associated_data binds the ciphertext to its owner (e.g. "totp:user=5:method=9"), so a
  // blob copied to another row does not open; version and key id are authenticated too.
  std::string seal(std::string_view plaintext, std::string_view associated_data) const;

  // Opens with the key named in the blob (old keys still open after rotation).
  // missing_key(id) when the keyring has no key with the blob's id; kInternal (detail says
  // why) on unknown version, tampering, wrong associated data or truncation.
  core::Result<core::Secret> open(std::string_view sealed, std::string_view associated_data) const;

  // The key id of a sealed blob (nullopt when it is too short or of another version).
  static std::optional<uint32_t> sealed_key_id(std::string_view sealed);
  // The first bytes of every blob sealed with key `key_id` (version, key id).
  static std::string sealed_header(uint32_t key_id);

  // A value was sealed or hashed under a key this process has not loaded (another instance
  // already uses a key whose file has not reached this one, or the key was removed):
  // kUnavailable (503 + Retry-After), reason master_key_unavailable, a message for people and
  // the key id in the detail only.
  static core::Error missing_key(uint32_t key_id);

  static constexpr uint8_t kVersion = 0x01;
  // Stored next to keyed hashes that were written before key ids were recorded (migration
  // 0007): they were made with the key that was current then. Never a key file id.
  static constexpr uint32_t kLegacyKeyId = 0;
  static constexpr std::size_t kKeySize = 32;

  struct Keys;  // opaque: defined in keyring.cpp

 private:
  Keyring(std::shared_ptr<const Keys> keys, uint32_t current_id);

  // Shared and immutable: copies of a Keyring are cheap and the bytes are wiped once, when
  // the last copy goes.
  std::shared_ptr<const Keys> keys_;
  uint32_t current_id_ = 0;
};

}  // namespace twostep::crypto
