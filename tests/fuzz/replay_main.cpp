// Replays the fuzz entry point over every file of a corpus directory, so that
// the seeds (and any crash reproducer added to the corpus) run under ctest
// with any compiler, no libFuzzer needed.
//
//   decode_fuzz_replay [--require-valid] DIR...
//
// --require-valid also fails when a file does not decode: the committed seeds
// must stay valid encodings, or the fuzzer would start from nothing after a
// format change. Exit 0 when every file passed, 1 otherwise.
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "decode_fuzz.hpp"

namespace {

// An assertion in the target aborts; report it as an ordinary failure so that
// ctest (and its WILL_FAIL canary) sees exit status 1, not a signal.
const char* g_current = "";
extern "C" void on_abort(int) {
  const char msg[] = "decode_fuzz_replay: round trip failed on ";
  (void)!::write(2, msg, sizeof msg - 1);
  (void)!::write(2, g_current, std::strlen(g_current));
  (void)!::write(2, "\n", 1);
  ::_exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGABRT, on_abort);
  bool require_valid = false;
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--require-valid") == 0) {
      require_valid = true;
      continue;
    }
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(argv[i], ec))
      if (entry.is_regular_file()) files.push_back(entry.path());
    if (ec) {
      std::fprintf(stderr, "decode_fuzz_replay: cannot read %s: %s\n", argv[i],
                   ec.message().c_str());
      return 1;
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "decode_fuzz_replay: no corpus files\n");
    return 1;
  }
  std::size_t passed = 0, failed = 0;
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
    const std::string name = path.filename().string();
    g_current = name.c_str();
    LLVMFuzzerTestOneInput(data.data(), data.size());
    if (require_valid && !emledger::fuzz::decode_round_trip(data.data(), data.size())) {
      std::fprintf(stderr, "decode_fuzz_replay: %s does not decode\n", name.c_str());
      ++failed;
    } else {
      ++passed;
    }
  }
  std::printf("%zu passed, %zu failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
