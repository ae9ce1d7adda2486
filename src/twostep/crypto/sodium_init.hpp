// Makes libsodium ready before first use. Every crypto entry point calls it, so no caller
// needs a start-up step and tests can call any function directly.
#pragma once

namespace twostep::crypto {

// Idempotent and thread-safe; aborts if libsodium cannot initialise (no usable RNG), since
// nothing secure can be done without it.
void ensure_sodium();

}  // namespace twostep::crypto
