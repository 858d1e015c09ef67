// How a sandboxed monitor reaches files (sandbox.hpp).
#pragma once

namespace domus::monitor {

// By path (`domus run`), or only as fds passed with each request by domusd, which
// decides what a domain's monitor may open (base/host_files.hpp); then every system call
// that opens, removes or renames by path fails with EACCES.
enum class FileAccess { paths, passed };

}  // namespace domus::monitor
