// DiskFormat names, one table for both directions.
#include "config/disk_format.hpp"

#include <array>
#include <utility>

namespace domus::config {
namespace {

constexpr std::array<std::pair<std::string_view, DiskFormat>, 2> kFormats{{
    {"raw", DiskFormat::raw},
    {"qcow2", DiskFormat::qcow2},
}};

}  // namespace

std::string_view disk_format_name(DiskFormat format) {
    for (auto [name, value] : kFormats)
        if (value == format) return name;
    return "raw";  // unreachable for valid enumerators
}

std::optional<DiskFormat> parse_disk_format(std::string_view name) {
    for (auto [text, value] : kFormats)
        if (text == name) return value;
    return std::nullopt;
}

}  // namespace domus::config
