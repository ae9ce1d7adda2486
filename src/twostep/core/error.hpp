// Error values shared by every layer: a small fixed set of codes (mapped to HTTP status in
// exactly one place, api/errors.cpp), a public snake_case reason and message for people, and a
// detail string that only ever goes to logs.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace twostep::core {

enum class Code {
  kInvalidArgument,     // 400
  kUnauthenticated,     // 401
  kPermissionDenied,    // 403
  kNotFound,            // 404
  kAlreadyExists,       // 409
  kFailedPrecondition,  // 409
  kPayloadTooLarge,     // 413
  kResourceExhausted,   // 429 (rate limits, lockouts: retry_after_s says when it ends)
  kInternal,            // 500
  kBadGateway,          // 502 (an upstream such as an SMS gateway failed)
  kUnavailable,         // 503 (overloaded or database down)
};

struct Error {
  Code code = Code::kInternal;
  std::string reason;   // public, snake_case: "invalid_credentials"
  std::string message;  // public, for people
  std::string detail;   // logs only; never sent to clients
  int retry_after_s = 0;
};

template <class T>
using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> fail(Code code, std::string reason, std::string message,
                                  std::string detail = {}) {
  return tl::unexpected<Error>(
      Error{code, std::move(reason), std::move(message), std::move(detail), 0});
}

inline tl::unexpected<Error> fail_retry(Code code, std::string reason, std::string message,
                                        int retry_after_s) {
  return tl::unexpected<Error>(
      Error{code, std::move(reason), std::move(message), {}, retry_after_s});
}

inline tl::unexpected<Error> fail(Error e) { return tl::unexpected<Error>(std::move(e)); }

inline tl::unexpected<Error> internal(std::string detail) {
  return fail(Code::kInternal, "internal", "Something went wrong on our side.",
              std::move(detail));
}

inline Status ok() { return {}; }

}  // namespace twostep::core

#define TS_CONCAT_INNER(a, b) a##b
#define TS_CONCAT(a, b) TS_CONCAT_INNER(a, b)

// RETURN_IF_ERROR / ASSIGN_OR_RETURN, and co_return twins for coroutines.
#define TS_RETURN_IF_ERROR(expr)                                  \
  do {                                                            \
    auto&& ts_status_ = (expr);                                   \
    if (!ts_status_) return ::tl::unexpected(ts_status_.error()); \
  } while (0)

#define TS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)        \
  auto tmp = (expr);                                    \
  if (!tmp) return ::tl::unexpected(tmp.error());       \
  lhs = std::move(*tmp)

#define TS_ASSIGN_OR_RETURN(lhs, expr) \
  TS_ASSIGN_OR_RETURN_IMPL(TS_CONCAT(ts_result_, __LINE__), lhs, expr)
