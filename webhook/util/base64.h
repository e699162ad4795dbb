#pragma once
#include <string>
#include <string_view>

namespace coderun::util {

// Standard base64 (RFC 4648, with padding): the encoding of AdmissionResponse.patch.
std::string base64_encode(std::string_view bytes);
// Decodes standard base64; white space is skipped, anything else outside the alphabet throws
// std::invalid_argument.
std::string base64_decode(std::string_view text);

}  // namespace coderun::util
