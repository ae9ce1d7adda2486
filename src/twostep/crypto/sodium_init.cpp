#include "twostep/crypto/sodium_init.hpp"

#include <sodium.h>

#include <cstdlib>

namespace twostep::crypto {

void ensure_sodium() {
  // A function-local static gives one thread-safe initialisation; later calls cost a load.
  static const bool ready = [] { return sodium_init() >= 0; }();
  if (!ready) std::abort();
}

}  // namespace twostep::crypto
