// Durable file replacement: what a crash-safe record needs. The new content is written
// to a temporary file beside the target, flushed to disk, renamed over the target, and
// the directory is flushed too, so after a crash the file holds either the old content or
// the new, whole.
#pragma once

#include <string>
#include <string_view>

#include "base/result.hpp"

namespace domus {

Result<void> replace_file_durably(const std::string& path, std::string_view content);

}  // namespace domus
