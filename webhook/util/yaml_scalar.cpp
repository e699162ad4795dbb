#include "util/yaml_scalar.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

namespace coderun::util {
namespace {

using Type = PlainScalar::Type;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

PlainScalar make(Type type, nlohmann::json value) { return {type, std::move(value), {}}; }

PlainScalar unrepresentable(std::string problem) {
  return {Type::kUnrepresentable, nullptr, std::move(problem)};
}

// go-yaml v2's resolveMap: exact spellings only ("yEs" is a string).
std::optional<PlainScalar> from_table(std::string_view text) {
  static constexpr std::array<std::string_view, 11> kTrue = {
      "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"};
  static constexpr std::array<std::string_view, 11> kFalse = {
      "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"};
  static constexpr std::array<std::string_view, 5> kNull = {"", "~", "null", "Null", "NULL"};
  static constexpr std::array<std::string_view, 12> kSpecialFloats = {
      ".nan",  ".NaN",  ".NAN",  ".inf",  ".Inf",  ".INF",
      "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF"};
  const auto in = [&](const auto& list) {
    for (const auto word : list)
      if (word == text) return true;
    return false;
  };
  if (in(kTrue)) return make(Type::kBool, true);
  if (in(kFalse)) return make(Type::kBool, false);
  if (in(kNull)) return make(Type::kNull, nullptr);
  if (in(kSpecialFloats)) {
    return unrepresentable("YAML reads " + std::string(text) +
                           " as a NaN or infinite number, which JSON cannot hold");
  }
  return std::nullopt;
}

// strconv.ParseUint(s, base, 64): digits of the base only, no sign, no prefix.
std::optional<uint64_t> parse_unsigned(std::string_view s, int base) {
  if (s.empty()) return std::nullopt;
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), value, base);
  if (error != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

// strconv.ParseUint(s, 0, 64): 0b/0o/0x prefixes, a leading 0 for octal.
std::optional<uint64_t> parse_unsigned_base0(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int base = 10;
  if (s[0] == '0') {
    const char prefix = s.size() >= 3 ? static_cast<char>(s[1] | 0x20) : '\0';
    if (prefix == 'b' || prefix == 'o' || prefix == 'x') {
      base = prefix == 'b' ? 2 : prefix == 'o' ? 8 : 16;
      s.remove_prefix(2);
    } else {
      base = 8;
      s.remove_prefix(1);
      if (s.empty()) return 0;  // "0"
    }
  }
  return parse_unsigned(s, base);
}

// strconv.ParseInt(s, base, 64), base 0 meaning "from the prefix".
std::optional<int64_t> parse_signed(std::string_view s, int base) {
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s[0] == '+' || s[0] == '-') return std::nullopt;
  const auto magnitude = base == 0 ? parse_unsigned_base0(s) : parse_unsigned(s, base);
  if (!magnitude) return std::nullopt;
  constexpr uint64_t kMax = static_cast<uint64_t>(INT64_MAX);
  if (negative) {
    if (*magnitude > kMax + 1) return std::nullopt;
    return *magnitude == kMax + 1 ? INT64_MIN : -static_cast<int64_t>(*magnitude);
  }
  if (*magnitude > kMax) return std::nullopt;
  return static_cast<int64_t>(*magnitude);
}

// strconv's underscoreOK for a decimal number: underscores only between digits.
bool underscores_ok(std::string_view s) {
  char saw = '^';  // ^ start, 0 digit, _ underscore, ! anything else
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  for (const char c : s) {
    if (is_digit(c)) {
      saw = '0';
    } else if (c == '_') {
      if (saw != '0') return false;
      saw = '_';
    } else {
      if (saw == '_') return false;
      saw = '!';
    }
  }
  return saw != '_';
}

std::string without_underscores(std::string_view text) {
  std::string plain;
  plain.reserve(text.size());
  for (const char c : text)
    if (c != '_') plain += c;
  return plain;
}

// ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$, go-yaml's yamlStyleFloat, by hand: a
// backtracking regex over a 100,000-digit scalar is what crashed the previous version.
bool is_yaml_style_float(std::string_view s) {
  size_t i = 0;
  const auto digits = [&] {
    const size_t start = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    return i - start;
  };
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  } else {
    if (digits() == 0) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      digits();
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

// Whether a decimal float that from_chars found out of range is too large (rather than too
// small): the position of its first significant digit plus its exponent, saturated.
bool overflows(std::string_view s) {
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  const size_t exponent_at = std::min(s.find_first_of("eE"), s.size());
  const std::string_view mantissa = s.substr(0, exponent_at);
  const size_t point = std::min(mantissa.find('.'), mantissa.size());
  const size_t first = mantissa.find_first_of("123456789");
  if (first == std::string_view::npos) return false;
  int64_t position = first < point ? static_cast<int64_t>(point - first)
                                   : -static_cast<int64_t>(first - point - 1);
  int64_t exponent = 0;
  bool negative = false;
  for (size_t i = exponent_at + 1; i < s.size(); ++i) {
    if (s[i] == '-') negative = true;
    if (is_digit(s[i]) && exponent < 1'000'000'000) exponent = exponent * 10 + (s[i] - '0');
  }
  return position + (negative ? -exponent : exponent) > 0;
}

// An integral double as strconv.FormatFloat(f, 'f', -1, 64) writes it: its shortest round-trip
// digits padded with zeros (2^62 is 4611686018427388000, not ...387904), "-0" for -0.
std::string integral_digits(double value) {
  std::array<char, 40> buffer{};
  const auto written = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                                     std::chars_format::scientific);
  const std::string_view text(buffer.data(), written.ptr - buffer.data());  // -4.6116e+18
  const size_t e = text.find('e');
  std::string digits;
  for (const char c : text.substr(0, e))
    if (is_digit(c)) digits += c;
  int exponent = 0;
  std::from_chars(text.data() + e + (text[e + 1] == '+' ? 2 : 1), text.data() + text.size(),
                  exponent);
  // A value that is integral has at most exponent + 1 significant digits.
  if (exponent >= 0 && static_cast<size_t>(exponent) + 1 > digits.size()) {
    digits.append(static_cast<size_t>(exponent) + 1 - digits.size(), '0');
  }
  return (text[0] == '-' ? "-" : "") + digits;
}

// strconv.ParseFloat of a scalar that matched the float pattern. Too large: ParseFloat fails and
// go-yaml keeps the scalar as a string. Too small: it is zero.
PlainScalar float_value(std::string_view text, std::string_view original) {
  std::string_view digits = text;
  if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);  // from_chars takes no '+'
  double value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value,
                                            std::chars_format::general);
  if (error == std::errc::result_out_of_range) {
    if (overflows(text)) return make(Type::kString, std::string(original));
    value = 0;
  } else if (error != std::errc() || end != digits.data() + digits.size() ||
             !std::isfinite(value)) {
    return make(Type::kString, std::string(original));
  }
  // Go's encoding/json writes a float64 below 1e21 in 'f' format with its shortest digits, so an
  // integral one has no fraction (80.0 is 80: an int32 field accepts 80 and refuses 80.0) and
  // keeps its shortest digits (2^62 is 4611686018427388000, which an int64 field reads as such).
  // Those digits as a JSON integer, where 64 bits hold them; the rest keep the double's value.
  if (std::trunc(value) == value && std::fabs(value) < 1.8e19) {
    const std::string shortest = integral_digits(value);
    if (const auto signed_value = parse_signed(shortest, 10))
      return make(Type::kFloat, *signed_value);
    if (const auto unsigned_value = parse_unsigned(shortest, 10)) {
      return make(Type::kFloat, *unsigned_value);
    }
  }
  return make(Type::kFloat, value);
}

}  // namespace

PlainScalar resolve_plain_scalar(std::string_view text) {
  // go-yaml looks at the first character to decide what the scalar might be.
  const char first = text.empty() ? 'N' : text[0];
  const bool maybe_table = first == 'N' || first == 'y' || first == 'Y' || first == 'n' ||
                           first == 't' || first == 'T' || first == 'f' || first == 'F' ||
                           first == 'o' || first == 'O' || first == '~' || first == '.' ||
                           first == '+' || first == '-';
  const bool maybe_number = is_digit(first) || first == '+' || first == '-';
  if (maybe_table || maybe_number) {
    if (auto found = from_table(text)) return *found;
  }
  if (first == '.') {
    // strconv.ParseFloat of the scalar as written: \.[0-9]+([eE][-+]?[0-9]+)?, with underscores
    // between digits (Go's float syntax: .5_0 is 0.5).
    const std::string plain = without_underscores(text);
    if (underscores_ok(text) && is_yaml_style_float(plain)) return float_value(plain, text);
    return make(Type::kString, std::string(text));
  }
  if (!maybe_number) return make(Type::kString, std::string(text));
  // Timestamps (2001-12-14) come back as strings when decoded into interface{}; none of them
  // parses as a number, so they need no case of their own.
  const std::string plain = without_underscores(text);
  if (const auto signed_value = parse_signed(plain, 0)) return make(Type::kInt, *signed_value);
  if (!plain.empty() && plain[0] != '+' && plain[0] != '-') {
    if (const auto unsigned_value = parse_unsigned_base0(plain)) {
      return make(Type::kInt, *unsigned_value);
    }
  }
  if (is_yaml_style_float(plain)) return float_value(plain, text);
  // go-yaml's own binary forms, read after the float: a sign may follow the prefix (0b-101).
  const std::string_view view = plain;
  if (view.starts_with("0b")) {
    if (const auto signed_value = parse_signed(view.substr(2), 2)) {
      return make(Type::kInt, *signed_value);
    }
    if (const auto unsigned_value = parse_unsigned(view.substr(2), 2)) {
      return make(Type::kInt, *unsigned_value);
    }
  } else if (view.starts_with("-0b")) {
    if (const auto signed_value = parse_signed("-" + std::string(view.substr(3)), 2)) {
      return make(Type::kInt, *signed_value);
    }
  }
  return make(Type::kString, std::string(text));
}

}  // namespace coderun::util
