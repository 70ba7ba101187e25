// The benchmarks' parser of comma-separated counts (benchmarks/bench_common.hpp),
// which ingest_bench's --validators and --clients lists and verify_bench's
// options go through: what it accepts, and that it refuses anything else
// rather than throwing.
#include <doctest/doctest.h>

#include <string>

#include "../../benchmarks/bench_common.hpp"

using emledger::bench::parse_list;

TEST_CASE("bench: parse_list reads comma-separated counts in order") {
  auto one = parse_list("7");
  REQUIRE(one);
  CHECK(*one == std::vector<std::size_t>{7});
  auto many = parse_list("1,4,0,100000");
  REQUIRE(many);
  CHECK(*many == std::vector<std::size_t>{1, 4, 0, 100000});
}

TEST_CASE("bench: parse_list refuses what is not a list of counts") {
  for (const std::string bad : {"", ",", "4,", ",4", "1,,2", "-1", "+3", "x", "2.5", " 3", "3 ",
                                "1e3", "99999999999999999999999"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_list(bad).has_value());
  }
}
