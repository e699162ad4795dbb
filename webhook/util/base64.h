#pragma once
#include <string>
#include <string_view>

namespace coderun::util {

// Standard base64 (RFC 4648, with padding): the encoding of AdmissionResponse.patch.
std::string base64_encode(std::string_view bytes);

}  // namespace coderun::util
