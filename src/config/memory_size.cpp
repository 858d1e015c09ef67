// xl's memory sizes (see memory_size.hpp).
#include "config/memory_size.hpp"

#include <cctype>
#include <limits>
#include <string>

namespace domus::config {

Result<std::uint64_t> parse_memory_size_kib(std::string_view text) {
    auto bad = [&] {
        return make_error(
            "invalid memory size \"{}\": expected a number of MiB, or one with a "
            "k, m, g or t suffix (e.g. 512, 512m, 2g)",
            std::string(text));
    };
    std::size_t digits = 0;
    std::uint64_t value = 0;
    for (; digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]));
         ++digits) {
        unsigned digit = unsigned(text[digits] - '0');
        if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return bad();
        value = value * 10 + digit;
    }
    if (digits == 0 || text.size() > digits + 1) return bad();
    std::uint64_t scale = 1024;  // plain: MiB
    if (text.size() == digits + 1) {
        switch (std::tolower(static_cast<unsigned char>(text[digits]))) {
            case 'k':
                scale = 1;
                break;
            case 'm':
                scale = 1024;
                break;
            case 'g':
                scale = 1024 * 1024;
                break;
            case 't':
                scale = 1024ull * 1024 * 1024;
                break;
            default:
                return bad();
        }
    }
    if (value > std::numeric_limits<std::uint64_t>::max() / scale) return bad();
    return value * scale;
}

}  // namespace domus::config
