// A move-only holder for secret bytes (passwords, keys, codes): zeroed when destroyed or moved
// from, and printed as [redacted] so it cannot leak into logs by accident.
#pragma once

#include <cstring>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace twostep::core {

void secure_zero(void* p, std::size_t n);

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret(Secret&& o) noexcept : value_(std::move(o.value_)) { o.wipe(); }
  Secret& operator=(Secret&& o) noexcept {
    if (this != &o) {
      wipe();
      value_ = std::move(o.value_);
      o.wipe();
    }
    return *this;
  }
  ~Secret() { wipe(); }

  std::string_view view() const { return value_; }
  const std::string& str() const { return value_; }
  std::size_t size() const { return value_.size(); }
  bool empty() const { return value_.empty(); }

 private:
  void wipe() {
    if (!value_.empty()) secure_zero(value_.data(), value_.size());
    value_.clear();
  }
  std::string value_;
};

inline std::ostream& operator<<(std::ostream& os, const Secret&) { return os << "[redacted]"; }

}  // namespace twostep::core
