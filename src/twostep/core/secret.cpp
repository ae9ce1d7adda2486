#include "twostep/core/secret.hpp"

#include <string.h>

namespace twostep::core {

void secure_zero(void* p, std::size_t n) { explicit_bzero(p, n); }

}  // namespace twostep::core
