// Durable file creation helpers for the key and pseudonym-key files.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <string>

namespace emledger::crypto::detail {

// After creating a file, its directory entry must be durable too: fsyncs the
// directory that holds `path`. False when it cannot be opened or synced.
inline bool fsync_parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace emledger::crypto::detail
