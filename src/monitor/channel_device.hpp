// ChannelDevice: one secondary PV console ("channel") of a domain, the monitor's side of
// the split driver. It writes the XenBus directories as libxl does for `channel = [...]`
// (frontend /local/domain/<d>/device/console/<n>, backend /local/domain/0/backend/
// console/<d>/<n>), follows the frontend through the XenBus states, maps its ring grant
// and serves the ring on a thread of its own, gluing it to a listening UNIX socket:
// a connected client gets the guest's bytes and its writes go to the guest.
//
// One client at a time; a second one waits in the listen backlog until the first leaves.
// Nothing is dropped: guest bytes wait (up to kOutputLimit, the frontend's `limit` key)
// for a client, then the guest's ring fills up and the guest waits; client bytes wait
// (up to kInputLimit) for the guest, then the socket is not read. Closing the socket
// ends the client only; the guest keeps its channel. Destruction (the domain's end)
// closes the client, unlinks the socket and removes both directories.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "backends/console_ring.hpp"
#include "base/fd.hpp"
#include "base/result.hpp"
#include "config/channel_config.hpp"
#include "monitor/backend_channel.hpp"
#include "monitor/grant_table.hpp"
#include "store/client.hpp"

#include <domus/abi/event_channel.h>

namespace domus::monitor {

class Domain;

class ChannelDevice {
public:
    static constexpr std::size_t kOutputLimit = 1 << 20;  // libxl's LIBXL_XENCONSOLE_LIMIT
    static constexpr std::size_t kInputLimit = 64 * 1024;

    // Creates the listening socket and publishes the device (backend state InitWait).
    static Result<std::unique_ptr<ChannelDevice>> create(Domain& domain,
                                                         const config::ChannelConfig& config,
                                                         const std::string& store_socket);
    ~ChannelDevice();
    ChannelDevice(const ChannelDevice&) = delete;
    ChannelDevice& operator=(const ChannelDevice&) = delete;

    void start();

private:
    ChannelDevice(Domain& domain, config::ChannelConfig config, store::Client store);
    Result<void> listen();
    Result<void> publish();
    Result<void> set_backend_state(int state);
    void thread_main();
    void frontend_changed();
    Result<void> connect();
    void disconnect();
    void fail_frontend(const char* why);
    void accept_client();
    bool read_client();   // false: the client is gone (reading is over, or an error)
    bool write_client();  // false: the client went away
    void drop_client();
    void pump();    // moves bytes between the ring and the buffers, notifies the guest
    void finish();  // the domain ends: last guest bytes to the client, within a second

    Domain& domain_;
    config::ChannelConfig config_;
    store::Client store_;
    std::string frontend_dir_;
    std::string backend_dir_;
    Fd listener_;
    dev_t socket_dev_ = 0;  // identity of the socket file we made: unlink only that one
    ino_t socket_ino_ = 0;
    Fd doorbell_;
    Fd stop_;
    std::thread thread_;
    // Channel thread only from start() on.
    Fd client_;
    bool client_done_writing_ = false;  // it shut down its sending side (socat at stdin EOF)
    std::string to_client_;             // guest bytes not yet sent to a client
    std::string to_guest_;              // client bytes not yet on the ring
    GrantMapping ring_page_;
    std::optional<backends::ConsoleRing> ring_;
    std::optional<BackendChannel> channel_;
    bool connected_ = false;
};

}  // namespace domus::monitor
