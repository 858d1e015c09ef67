// Grant table (v1) of this domain: entries in kernel pages registered with the monitor,
// a free list of refs, and Xen's grant/revoke protocol. C API in <domus/gnttab.h>.
#pragma once

namespace domus::guest {

// Allocates the table pages and registers them (GNTTABOP_domus_set_table). A failure
// is reported on the console and leaves the domain without grants (-ENODEV).
void init_gnttab();
// Resumed in a new domain: the same table registered again. False if refused.
bool gnttab_resume();

} // namespace domus::guest
