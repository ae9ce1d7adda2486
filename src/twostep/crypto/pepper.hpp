// A hash pepper for one purpose under every master key: values are hashed with the current key
// and checked later with the key whose id was stored next to them, so adding a key (rotation)
// voids no stored hash. Recovery codes, SMS codes and application passwords use it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "twostep/core/secret.hpp"
#include "twostep/crypto/keyring.hpp"

namespace twostep::crypto {

class Pepper {
 public:
  // Derives the purpose's subkey from every key of the keyring once (HKDF, cheap).
  Pepper(const Keyring& keyring, std::string_view purpose);

  // The key id to store next to a hash made by hash_hex(data).
  uint32_t current_id() const { return current_id_; }

  // keyed_hash_hex under the current key.
  std::string hash_hex(std::string_view data) const;
  // keyed_hash_hex under key `key_id`; Keyring::kLegacyKeyId (a row written before key ids
  // were recorded and not yet pinned) means the current key, which is what made it.
  // nullopt when the keyring has no such key (it was removed from the key file).
  std::optional<std::string> hash_hex(uint32_t key_id, std::string_view data) const;

 private:
  uint32_t current_id_;
  std::map<uint32_t, core::Secret> keys_;  // wiped when the Pepper goes
};

}  // namespace twostep::crypto
