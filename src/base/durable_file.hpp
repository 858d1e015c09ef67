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

// The same without the flushes: whole old or whole new content after the writer's crash
// (the page cache outlives a killed process), not after the host's. For records of what
// cannot outlive the host either (a running monitor), where two fsyncs per update would
// only cost milliseconds.
Result<void> replace_file_atomically(const std::string& path, std::string_view content);

}  // namespace domus
