// A fresh directory under /tmp for the consensus tests that use real files
// (PosixFsEnv, the WAL), removed with everything in it at scope exit.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace emledger::consensus::test {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/emledger-consensus-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace emledger::consensus::test
