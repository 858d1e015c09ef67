// The emulated ATA PIO disk driver (C API in <domus/emulated_disk.h>): polling, one
// exit per register access, string I/O for sector data.
#pragma once

namespace domus::guest {

// Identifies the disk if the monitor attached one (start_info flag); otherwise does
// nothing. Optional: the first edisk_* call does the same.
void init_emulated_disk();

} // namespace domus::guest
