// The backend's half of Xen's XenBus state machine (PV ABI reference 10), for the
// devices the monitor serves (VbdDevice, ChannelDevice): what to do when the frontend's
// `state` changed, and the frontend's numeric keys.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "store/client.hpp"

namespace domus::monitor {

// The frontend's state as written in frontend_dir/state (Closed when it is gone).
int frontend_state(store::Client& store, const std::string& frontend_dir);

// Connects when the frontend is Initialised or Connected and we are not (a failed
// connect is logged and closes the device: state Closing); disconnects when it is
// Closing or Closed, following it, and after Closed waits for a new frontend (InitWait).
// `set_state` writes the backend's state; `what` names the device in messages.
void follow_frontend(int state, bool connected, const std::function<Result<void>()>& connect,
                     const std::function<void()>& disconnect,
                     const std::function<Result<void>(int)>& set_state, std::string_view what);

// A frontend key holding a 32-bit decimal number (ring-ref, port, event-channel).
Result<std::uint32_t> read_frontend_u32(store::Client& store, const std::string& frontend_dir,
                                        const char* key);

}  // namespace domus::monitor
