// The backend side of the XenBus state machine.
#include "monitor/xenbus_backend.hpp"

#include <cstdlib>

#include "base/log.hpp"

#include <domus/abi/blkif.h>

namespace domus::monitor {

int frontend_state(store::Client& store, const std::string& frontend_dir) {
    auto state = store.read(frontend_dir + "/state");
    return state ? std::atoi(state->c_str()) : XenbusStateClosed;
}

void follow_frontend(int state, bool connected, const std::function<Result<void>()>& connect,
                     const std::function<void()>& disconnect,
                     const std::function<Result<void>(int)>& set_state, std::string_view what) {
    if ((state == XenbusStateInitialised || state == XenbusStateConnected) && !connected) {
        if (auto done = connect(); !done) {
            static log::RateLimit limit;
            if (limit.allow())
                DOMUS_LOG_WARN("xenbus", "{}: cannot connect: {}", what, done.error().message);
            (void)set_state(XenbusStateClosing);
        }
    } else if ((state == XenbusStateClosing || state == XenbusStateClosed) && connected) {
        disconnect();
        (void)set_state(state);
        if (state == XenbusStateClosed) (void)set_state(XenbusStateInitWait);  // a new frontend
    }
}

Result<std::uint32_t> read_frontend_u32(store::Client& store, const std::string& frontend_dir,
                                        const char* key) {
    DOMUS_TRY(text, store.read(frontend_dir + "/" + key));
    // Digits only (strtoul would take spaces, signs and wrap around): it is the guest's.
    std::uint64_t value = 0;
    bool digits = !text.empty() && text.size() <= 10;
    for (char c : text) {
        digits = digits && c >= '0' && c <= '9';
        if (digits) value = value * 10 + std::uint64_t(c - '0');
    }
    if (!digits || value > 0xFFFFFFFFull)
        return make_error("bad {} \"{}\"", key, log::escape(text));
    return std::uint32_t(value);
}

}  // namespace domus::monitor
