#include "twostep/crypto/private_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/random.hpp"

namespace twostep::crypto {
namespace {

std::string errno_text() { return std::strerror(errno); }

core::Error file_error(const PrivateFileLabel& label, const std::string& path,
                       const std::string& what, std::string detail = {}) {
  return core::Error{core::Code::kFailedPrecondition, label.reason,
                     label.noun + " " + path + ": " + what, std::move(detail), 0};
}

// mkdir -p with mode 0700 for the directories it creates; existing ones are left alone.
core::Status make_parents(const std::string& path, const PrivateFileLabel& label) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return core::ok();
  std::string dir = path.substr(0, slash);
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return tl::unexpected(file_error(label, path, dir + " is not a directory"));
    }
    return core::ok();
  }
  TS_RETURN_IF_ERROR(make_parents(dir, label));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return tl::unexpected(file_error(label, path, "cannot create directory " + dir, errno_text()));
  }
  return core::ok();
}

core::Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(core::Error{});
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return core::ok();
}

void fsync_dir(const std::string& path) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

core::Result<std::optional<core::Secret>> read_private_file(const std::string& path,
                                                            std::size_t max_size,
                                                            const PrivateFileLabel& label) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<core::Secret>();
    if (errno == ELOOP)
      return tl::unexpected(file_error(label, path, "must not be a symbolic link"));
    return tl::unexpected(file_error(label, path, "cannot open", errno_text()));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::string d = errno_text();
    ::close(fd);
    return tl::unexpected(file_error(label, path, "cannot stat", d));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return tl::unexpected(file_error(label, path, "is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return tl::unexpected(file_error(
        label, path,
        std::string("is accessible by group or others (mode ") + mode + "); run chmod 600 on it"));
  }
  if (static_cast<std::size_t>(st.st_size) > max_size) {
    ::close(fd);
    return tl::unexpected(file_error(label, path, "is too large"));
  }
  std::string content(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < content.size()) {
    ssize_t n = ::read(fd, content.data() + got, content.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string d = errno_text();
      ::close(fd);
      core::secure_zero(content.data(), content.size());
      return tl::unexpected(file_error(label, path, "cannot read", d));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  content.resize(got);
  ::close(fd);
  return std::optional<core::Secret>(core::Secret(std::move(content)));
}

core::Result<bool> write_private_file(const std::string& path, std::string_view content,
                                      WriteMode mode, const PrivateFileLabel& label) {
  TS_RETURN_IF_ERROR(make_parents(path, label));
  const std::string tmp = path + ".tmp-" + hex_encode(random_bytes(8));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return tl::unexpected(file_error(label, path, "cannot create", errno_text()));
  bool ok = ::fchmod(fd, 0600) == 0 && write_all(fd, content).has_value() && ::fsync(fd) == 0;
  std::string detail = ok ? "" : errno_text();
  ok = (::close(fd) == 0) && ok;
  if (!ok) {
    ::unlink(tmp.c_str());
    return tl::unexpected(file_error(label, path, "cannot write", detail));
  }
  bool written = true;
  if (mode == WriteMode::kReplace) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      std::string d = errno_text();
      ::unlink(tmp.c_str());
      return tl::unexpected(file_error(label, path, "cannot replace", d));
    }
  } else if (::link(tmp.c_str(), path.c_str()) != 0) {
    // link() fails if another process created the file meanwhile: never overwrite.
    if (errno == EEXIST) {
      written = false;
    } else if (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS) {
      // Filesystems without hard links: rename is still atomic, only not exclusive.
      if (::rename(tmp.c_str(), path.c_str()) != 0) {
        std::string d = errno_text();
        ::unlink(tmp.c_str());
        return tl::unexpected(file_error(label, path, "cannot create", d));
      }
    } else {
      std::string d = errno_text();
      ::unlink(tmp.c_str());
      return tl::unexpected(file_error(label, path, "cannot create", d));
    }
  }
  ::unlink(tmp.c_str());  // after link(); a no-op after rename()
  fsync_dir(path);
  return written;
}

core::Result<bool> create_private_file(const std::string& path, const PrivateFileLabel& label) {
  TS_RETURN_IF_ERROR(make_parents(path, label));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) {
    ::close(fd);
    fsync_dir(path);
    return true;
  }
  if (errno != EEXIST) {
    return tl::unexpected(file_error(label, path, "cannot create the file", errno_text()));
  }
  return false;
}

}  // namespace twostep::crypto
