// Grant table (v1) of this domain: entries in kernel pages registered with the monitor,
// a free list of refs, and Xen's grant/revoke protocol. C API in <domus/gnttab.h>.
#pragma once

namespace domus::guest {

// The table's pages are allocated and registered (GNTTABOP_domus_set_table) at the
// first grant; a failure is reported on the console and leaves the domain without grants
// (-ENODEV).
// Resumed in a new domain: the same table registered again (if there is one yet). False
// if refused.
bool gnttab_resume();

} // namespace domus::guest
