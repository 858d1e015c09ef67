// Suspend and resume (Xen's protocol, PV ABI reference 10.4): the toolstack writes
// "suspend" to control/shutdown, and the kernel quiesces its frontends and calls
// SCHEDOP_shutdown(SHUTDOWN_suspend) from a thread of its own (see suspend.cpp).
#pragma once

namespace domus::guest {

// Starts the "suspend" thread (from the control/shutdown watch callback, which must
// return: the resume needs the watch thread to reconnect the devices).
void suspend_request();

} // namespace domus::guest
