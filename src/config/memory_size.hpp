// xl's memory sizes (mem-set, mem-max): a number of MiB, or a number with a k, m, g or t
// suffix (KiB, MiB, GiB, TiB), as xl's parse_mem_size_kb reads them.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/result.hpp"

namespace domus::config {

// The size in KiB; an error naming the text for anything else (signs, spaces, fractions,
// other suffixes, overflow).
Result<std::uint64_t> parse_memory_size_kib(std::string_view text);

}  // namespace domus::config
