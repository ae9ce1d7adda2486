#include "twostep/crypto/pepper.hpp"

#include "twostep/crypto/hash.hpp"

namespace twostep::crypto {

Pepper::Pepper(const Keyring& keyring, std::string_view purpose)
    : current_id_(keyring.current_id()) {
  for (uint32_t id : keyring.ids()) keys_.emplace(id, core::Secret(*keyring.derive(purpose, id)));
}

std::string Pepper::hash_hex(std::string_view data) const {
  return keyed_hash_hex(keys_.at(current_id_).view(), data);
}

std::optional<std::string> Pepper::hash_hex(uint32_t key_id, std::string_view data) const {
  if (key_id == Keyring::kLegacyKeyId) key_id = current_id_;
  auto it = keys_.find(key_id);
  if (it == keys_.end()) return std::nullopt;
  return keyed_hash_hex(it->second.view(), data);
}

}  // namespace twostep::crypto
