#include "emledger/client/timefmt.hpp"

#include <cstdio>

namespace emledger::client {
namespace {

constexpr std::int64_t kMsPerSecond = 1000;
constexpr std::int64_t kSecondsPerDay = 86400;

Status bad_time(std::string_view text, const std::string& why) {
  return Status::error("BAD_TIME", "'" + std::string(text) + "': " + why +
                                       " (use RFC 3339 like 2027-01-31T00:00:00Z, or unix "
                                       "milliseconds)");
}

bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(std::int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date. Counts whole 400-year
// eras (146097 days each) from 0000-03-01 so that February ends each year.
std::int64_t days_from_civil(std::int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t year_of_era = y - era * 400;
  const int month_from_march = m > 2 ? m - 3 : m + 9;
  const std::int64_t day_of_year = (153 * month_from_march + 2) / 5 + d - 1;
  const std::int64_t day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;  // 719468: days from 0000-03-01 to 1970-01-01
}

// Inverse of days_from_civil.
void civil_from_days(std::int64_t z, std::int64_t& y, int& m, int& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t day_of_era = z - era * 146097;
  const std::int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const std::int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const std::int64_t mp = (5 * day_of_year + 2) / 153;
  d = static_cast<int>(day_of_year - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = year_of_era + era * 400 + (m <= 2 ? 1 : 0);
}

// Reads exactly `n` digits at `pos`.
bool digits(std::string_view s, std::size_t& pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += n;
  return true;
}

// Reads `c`; RFC 3339 section 5.6 lets 'T' and 'Z' be lowercase, so `alt` too.
bool expect(std::string_view s, std::size_t& pos, char c, char alt = '\0') {
  if (pos >= s.size() || (s[pos] != c && (alt == '\0' || s[pos] != alt))) return false;
  ++pos;
  return true;
}

Result<std::uint64_t> parse_unix_ms(std::string_view text) {
  if (text.size() > 19) return bad_time(text, "too many digits");
  std::uint64_t v = 0;
  for (char c : text) v = v * 10 + static_cast<std::uint64_t>(c - '0');
  return v;
}

Result<std::uint64_t> parse_rfc3339(std::string_view s) {
  std::size_t p = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(s, p, 4, year) || !expect(s, p, '-') || !digits(s, p, 2, month) ||
      !expect(s, p, '-') || !digits(s, p, 2, day))
    return bad_time(s, "expected a date YYYY-MM-DD");
  if (!expect(s, p, 'T', 't')) return bad_time(s, "expected 'T' and a time after the date");
  if (!digits(s, p, 2, hour) || !expect(s, p, ':') || !digits(s, p, 2, minute) ||
      !expect(s, p, ':') || !digits(s, p, 2, second))
    return bad_time(s, "expected a time hh:mm:ss");
  if (month < 1 || month > 12) return bad_time(s, "month out of range");
  if (day < 1 || day > days_in_month(year, month)) return bad_time(s, "day out of range");
  if (hour > 23 || minute > 59) return bad_time(s, "hour or minute out of range");
  if (second > 59) return bad_time(s, "second out of range (leap seconds are not supported)");
  std::int64_t millis = 0;
  if (p < s.size() && s[p] == '.') {
    ++p;
    std::size_t n = 0;
    std::int64_t scale = 100;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      millis += (s[p] - '0') * scale;  // digits past the third add nothing
      scale /= 10;
      ++p;
      ++n;
    }
    if (n == 0) return bad_time(s, "empty fraction of a second");
  }
  std::int64_t offset_minutes = 0;
  if (p < s.size() && (s[p] == 'Z' || s[p] == 'z')) {
    ++p;
  } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    const int sign = s[p] == '+' ? 1 : -1;
    ++p;
    int oh = 0, om = 0;
    if (!digits(s, p, 2, oh) || !expect(s, p, ':') || !digits(s, p, 2, om) || oh > 23 || om > 59)
      return bad_time(s, "expected an offset +hh:mm");
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return bad_time(s, "expected 'Z' or an offset like +08:00 after the time");
  }
  if (p != s.size()) return bad_time(s, "unexpected text after the time");
  const std::int64_t seconds = days_from_civil(year, month, day) * kSecondsPerDay + hour * 3600 +
                               minute * 60 + second - offset_minutes * 60;
  if (seconds < 0) return bad_time(s, "before 1970-01-01T00:00:00Z");
  return static_cast<std::uint64_t>(seconds * kMsPerSecond + millis);
}

}  // namespace

Result<std::uint64_t> parse_time_ms(std::string_view text) {
  if (text.empty()) return bad_time(text, "empty");
  bool all_digits = true;
  for (char c : text) all_digits = all_digits && c >= '0' && c <= '9';
  if (all_digits && text.size() != 4) return parse_unix_ms(text);
  return parse_rfc3339(text);
}

std::string format_time_ms(std::uint64_t ms) {
  const auto total_s = static_cast<std::int64_t>(ms / kMsPerSecond);
  const auto millis = static_cast<int>(ms % kMsPerSecond);
  const std::int64_t days = total_s / kSecondsPerDay;
  const std::int64_t rem = total_s % kSecondsPerDay;
  std::int64_t y = 0;
  int m = 0, d = 0;
  civil_from_days(days, y, m, d);
  char buf[48];
  const int h = static_cast<int>(rem / 3600), mi = static_cast<int>(rem / 60 % 60),
            se = static_cast<int>(rem % 60);
  if (millis == 0)
    std::snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02dZ", static_cast<long long>(y), m,
                  d, h, mi, se);
  else
    std::snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
                  static_cast<long long>(y), m, d, h, mi, se, millis);
  return buf;
}

}  // namespace emledger::client
