// Internal to factors/webauthn: an owning handle over a libcbor item and the few strict
// readers the WebAuthn structures need (definite lengths only, map lookups by text or
// integer key). Every reader returns nullopt/nullptr on a wrong type instead of asserting,
// because every byte here comes from an untrusted client.
#pragma once

#include <cbor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace twostep::factors::webauthn::cbor {

struct Decref {
  void operator()(cbor_item_t* item) const {
    if (item != nullptr) cbor_decref(&item);
  }
};
using Item = std::unique_ptr<cbor_item_t, Decref>;

inline constexpr size_t kMaxDepth = 16;

// The encoded length of the first item of `data` when it is well-formed in the strict form
// CTAP2 uses: definite lengths only, nesting at most kMaxDepth, and every declared count or
// length backed by bytes that are actually there. libcbor allocates a definite array or map
// for its declared size before reading its elements, so five bytes claiming 2^28 elements
// would cost gigabytes: this check runs first, in O(size) time and O(depth) memory.
inline std::optional<size_t> scan(std::string_view data) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const size_t n = data.size();
  size_t pos = 0;
  std::vector<uint64_t> pending{1};  // items still to read at each open level
  while (!pending.empty()) {
    if (pending.back() == 0) {
      pending.pop_back();
      continue;
    }
    --pending.back();
    if (pos >= n) return std::nullopt;
    const unsigned char initial = p[pos++];
    const unsigned major = initial >> 5;
    const unsigned info = initial & 0x1f;
    uint64_t arg = info;
    if (info >= 24 && info <= 27) {
      const size_t len = size_t{1} << (info - 24);
      if (n - pos < len) return std::nullopt;
      arg = 0;
      for (size_t i = 0; i < len; ++i) arg = (arg << 8) | p[pos++];
    } else if (info > 27) {
      return std::nullopt;  // reserved, or an indefinite length
    }
    const uint64_t left = n - pos;
    switch (major) {
      case 2:  // byte string
      case 3:  // text string
        if (arg > left) return std::nullopt;
        pos += static_cast<size_t>(arg);
        break;
      case 4:  // array: each element takes at least one byte
        if (arg > left || pending.size() > kMaxDepth) return std::nullopt;
        pending.push_back(arg);
        break;
      case 5:  // map: each pair takes at least two bytes
        if (arg > left / 2 || pending.size() > kMaxDepth) return std::nullopt;
        pending.push_back(arg * 2);
        break;
      case 6:  // a tag wraps the next item at the same level
        ++pending.back();
        break;
      default:  // integers, simple values and floats: the argument was all of it
        break;
    }
  }
  return pos;
}

// Decodes the first item of `data`; `used` receives the bytes it took. nullptr on any error.
inline Item load(std::string_view data, size_t* used) {
  *used = 0;
  auto size = scan(data);
  if (!size) return nullptr;
  data = data.substr(0, *size);
  cbor_load_result res{};
  cbor_item_t* item = cbor_load(reinterpret_cast<cbor_data>(data.data()), data.size(), &res);
  if (item == nullptr || res.error.code != CBOR_ERR_NONE) {
    if (item != nullptr) cbor_decref(&item);
    return nullptr;
  }
  *used = res.read;
  return Item(item);
}

// Decodes `data`, which must hold exactly one item.
inline Item load_exact(std::string_view data) {
  size_t used = 0;
  Item item = load(data, &used);
  if (!item || used != data.size()) return nullptr;
  return item;
}

inline std::optional<std::string> bytes(const cbor_item_t* item) {
  if (item == nullptr || !cbor_isa_bytestring(item) || !cbor_bytestring_is_definite(item)) {
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(cbor_bytestring_handle(item)),
                     cbor_bytestring_length(item));
}

inline std::optional<std::string> text(const cbor_item_t* item) {
  if (item == nullptr || !cbor_isa_string(item) || !cbor_string_is_definite(item)) {
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(cbor_string_handle(item)),
                     cbor_string_length(item));
}

// An integer (major type 0 or 1) that fits int64.
inline std::optional<int64_t> integer(const cbor_item_t* item) {
  if (item == nullptr) return std::nullopt;
  if (cbor_isa_uint(item)) {
    uint64_t v = cbor_get_int(item);
    if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (cbor_isa_negint(item)) {
    uint64_t v = cbor_get_int(item);  // the value is -1 - v
    if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return -1 - static_cast<int64_t>(v);
  }
  return std::nullopt;
}

inline bool is_definite_map(const cbor_item_t* item) {
  return item != nullptr && cbor_isa_map(item) && cbor_map_is_definite(item);
}

// The value under the key that `read` turns into `key` (text or integer keys); nullptr when
// absent. A key that appears twice makes the map ambiguous: *duplicate is set.
template <class Read, class Key>
const cbor_item_t* find(const cbor_item_t* map, Read read, const Key& key, bool* duplicate) {
  if (!is_definite_map(map)) return nullptr;
  const cbor_item_t* found = nullptr;
  cbor_pair* pairs = cbor_map_handle(map);
  for (size_t i = 0; i < cbor_map_size(map); ++i) {
    auto k = read(pairs[i].key);
    if (k && *k == key) {
      if (found != nullptr && duplicate != nullptr) *duplicate = true;
      found = pairs[i].value;
    }
  }
  return found;
}

inline const cbor_item_t* by_text(const cbor_item_t* map, std::string_view key,
                                  bool* duplicate = nullptr) {
  return find(map, text, key, duplicate);
}

inline const cbor_item_t* by_int(const cbor_item_t* map, int64_t key, bool* duplicate = nullptr) {
  return find(map, integer, key, duplicate);
}

}  // namespace twostep::factors::webauthn::cbor
