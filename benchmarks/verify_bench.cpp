// Batch verification against one-by-one verification (ADR 039), in the same
// run, on one thread:
//
//   ./build/benchmarks/verify_bench [--rounds R] [--sizes LIST] [--keys LIST]
//
// For each batch size and number of distinct signing keys, the same set of
// valid signatures of 311-byte messages (a register transaction's signed
// bytes are about that size) is verified by crypto::verify one at a time (for
// valid signatures that is libsodium's crypto_sign_verify_detached) and by
// crypto::verify_batch, alternated R times; the table gives the microseconds
// per signature of each (the medians of the rounds) and their ratio. "--keys
// 0" (printed "all") means every signature has its own key. Sizes are 1 to
// kSetMax, key counts 0 to kSetMax, rounds 1 to kRoundsMax; anything else is a
// usage error (exit 2). A batch with one invalid signature,
// which verify_batch must then find, is timed too ("one bad"), and one with
// every signature invalid ("all bad", against one by one of the same).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "emledger/crypto/ed25519.hpp"

using namespace emledger;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kSetMax = 100000;
constexpr std::size_t kRoundsMax = 1000;

double median(const std::vector<double>& v) { return bench::percentile(v, 0.5); }

struct Set {
  std::vector<crypto::KeyPair> keys;
  std::vector<Bytes> msgs;
  std::vector<std::size_t> key_of;
  std::vector<crypto::Signature> sigs;
  std::vector<crypto::SignedMessage> items() const {
    std::vector<crypto::SignedMessage> out;
    for (std::size_t i = 0; i < sigs.size(); ++i)
      out.push_back({&keys[key_of[i]].public_key(), ByteView(msgs[i]), &sigs[i]});
    return out;
  }
};

Set make_set(std::size_t n, std::size_t keys) {
  Set s;
  const std::size_t k = keys == 0 ? n : keys;
  for (std::size_t i = 0; i < k; ++i) s.keys.push_back(crypto::KeyPair::generate());
  for (std::size_t i = 0; i < n; ++i) {
    Bytes m(311);
    for (std::size_t j = 0; j < m.size(); ++j) m[j] = static_cast<std::uint8_t>(i * 131 + j);
    s.key_of.push_back(i % k);
    s.sigs.push_back(s.keys[i % k].sign(m));
    s.msgs.push_back(std::move(m));
  }
  return s;
}

// Microseconds per signature of one pass; every verdict must be `valid`.
double time_single(const Set& s, bool valid) {
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < s.sigs.size(); ++i)
    if (crypto::verify(s.keys[s.key_of[i]].public_key(), s.msgs[i], s.sigs[i]) != valid)
      std::abort();
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() /
         static_cast<double>(s.sigs.size());
}

double time_batch(const Set& s, std::size_t expect_valid) {
  const auto items = s.items();
  const auto t0 = Clock::now();
  const auto ok = crypto::verify_batch(items);
  const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() /
                    static_cast<double>(s.sigs.size());
  if (static_cast<std::size_t>(std::count(ok.begin(), ok.end(), 1)) != expect_valid) {
    std::fprintf(stderr, "verify_batch gave a wrong answer\n");
    std::exit(1);
  }
  return us;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t rounds = 5;
  std::vector<std::size_t> sizes{16, 64, 256, 1000};
  std::vector<std::size_t> key_counts{1, 3, 0};
  auto usage = [] {
    std::fprintf(stderr,
                 "usage: verify_bench [--rounds R] [--sizes LIST] [--keys LIST]\n"
                 "  R 1..%zu; LIST comma-separated: sizes 1..%zu, key counts 0..%zu (0: one key "
                 "per signature)\n",
                 kRoundsMax, kSetMax, kSetMax);
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    auto list = bench::parse_list(argv[++i]);
    if (!list) return usage();
    if (a == "--rounds" && list->size() == 1) {
      rounds = list->front();
    } else if (a == "--sizes") {
      sizes = *list;
    } else if (a == "--keys") {
      key_counts = *list;
    } else {
      return usage();
    }
  }
  if (rounds == 0 || rounds > kRoundsMax) return usage();
  for (std::size_t n : sizes)
    if (n == 0 || n > kSetMax) return usage();
  for (std::size_t k : key_counts)
    if (k > kSetMax) return usage();
  crypto::ensure_sodium();
  std::printf(
      "one thread; valid signatures of 311-byte messages; medians of %zu alternated rounds\n",
      rounds);
  std::printf("%6s %5s %10s %10s %8s %10s %10s %10s\n", "batch", "keys", "single", "batch", "ratio",
              "1 bad", "all bad 1x1", "all bad");
  std::printf("%6s %5s %10s %10s %8s %10s %10s %10s\n", "", "", "us", "us", "", "us", "us", "us");
  for (std::size_t keys : key_counts) {
    for (std::size_t n : sizes) {
      const Set s = make_set(n, keys);
      Set spoiled = s, all_bad = s;
      spoiled.sigs[n / 2][40] ^= 1;
      for (auto& sig : all_bad.sigs) sig[40] ^= 1;
      std::vector<double> single, batch, bad, all_single, all_batch;
      for (std::size_t r = 0; r < rounds; ++r) {
        single.push_back(time_single(s, true));
        batch.push_back(time_batch(s, n));
        bad.push_back(time_batch(spoiled, n - 1));
        all_single.push_back(time_single(all_bad, false));
        all_batch.push_back(time_batch(all_bad, 0));
      }
      const double su = median(single), bu = median(batch);
      std::printf("%6zu %5s %10.2f %10.2f %7.2fx %10.2f %10.2f %10.2f\n", n,
                  keys == 0 ? "all" : std::to_string(keys).c_str(), su, bu, su / bu, median(bad),
                  median(all_single), median(all_batch));
    }
  }
  return 0;
}
