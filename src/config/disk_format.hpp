// DiskFormat: the image formats a disk may be (xl DISKSPEC `format=`), named here so
// that config needs no storage; the device that opens the image maps it to storage's.
#pragma once

#include <optional>
#include <string_view>

namespace domus::config {

enum class DiskFormat { raw, qcow2 };

// "raw", "qcow2": xl's spelling, as DISKSPEC and the store's `params` node write it.
std::string_view disk_format_name(DiskFormat format);
// Nothing for a name Domus does not serve.
std::optional<DiskFormat> parse_disk_format(std::string_view name);

}  // namespace domus::config
