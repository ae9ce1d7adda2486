// Small private files (the master key, the authenticator's accounts): created mode 0600 in
// directories created 0700, written atomically (a temporary file, then link or rename), and
// refused when they are symbolic links, not regular files, or open to group or others.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "twostep/core/error.hpp"
#include "twostep/core/secret.hpp"

namespace twostep::crypto {

// Names the file in errors: kFailedPrecondition, reason `reason`, message
// "<noun> <path>: <what>" (never the content).
struct PrivateFileLabel {
  std::string reason;  // "master_key"
  std::string noun;    // "master key file"
};

// The whole file; nullopt when it does not exist.
core::Result<std::optional<core::Secret>> read_private_file(const std::string& path,
                                                            std::size_t max_size,
                                                            const PrivateFileLabel& label);

enum class WriteMode {
  kCreateOnly,  // never overwrites: answers false when the file exists already
  kReplace,     // atomically replaces the file
};
// Creates missing parent directories (0700). true when the file was written.
core::Result<bool> write_private_file(const std::string& path, std::string_view content,
                                      WriteMode mode, const PrivateFileLabel& label);

// For files written by others (the SQLite database): creates missing parent directories (0700)
// and the file itself, empty and mode 0600, when nothing is at `path`; whatever exists there
// (a file, a symbolic link to one) is left as it is. True when the file was created.
core::Result<bool> create_private_file(const std::string& path, const PrivateFileLabel& label);

}  // namespace twostep::crypto
