// ChannelDevice: one secondary PV console ("channel") of a domain, the backend of the
// split driver. Its XenbusDevice base writes the XenBus directories as libxl does for `channel =
// [...]` (frontend /local/domain/<d>/device/console/<n>, backend /local/domain/0/backend/
// console/<d>/<n>) and follows the frontend through the XenBus states; the device maps
// its ring grant and serves the ring on the device thread, gluing it to a listening UNIX socket:
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

#include "backends/console/console_ring.hpp"
#include "backends/xenbus_device.hpp"
#include "base/fd.hpp"
#include "base/result.hpp"
#include "config/channel_config.hpp"

namespace domus::backends {

class ChannelDevice final : public XenbusDevice {
public:
    static constexpr std::size_t kOutputLimit = 1 << 20;  // libxl's LIBXL_XENCONSOLE_LIMIT
    static constexpr std::size_t kInputLimit = 64 * 1024;

    // Creates the listening socket and publishes the device (backend state InitWait).
    static Result<std::unique_ptr<ChannelDevice>> create(std::unique_ptr<BackendHost> host,
                                                         const config::ChannelConfig& config);
    ~ChannelDevice() override;

private:
    ChannelDevice(std::unique_ptr<BackendHost> host, config::ChannelConfig config);
    Result<void> listen();

    // XenbusDevice
    Result<void> publish_keys(XenbusTransaction& t) override;
    Result<void> connect() override;
    void disconnect() override;
    std::size_t device_fds(std::span<pollfd, kMaxDeviceFds> fds) override;
    void device_ready(std::span<const pollfd> fds) override;
    void before_poll() override;
    void on_stop() override;  // the domain ends: last guest bytes to the client, within 1 s

    void accept_client();
    bool read_client();   // false: the client is gone (reading is over, or an error)
    bool write_client();  // false: the client went away
    void drop_client();
    void pump();  // moves bytes between the ring and the buffers, notifies the guest

    config::ChannelConfig config_;
    Fd listener_;
    dev_t socket_dev_ = 0;  // identity of the socket file we made: unlink only that one
    ino_t socket_ino_ = 0;
    Fd doorbell_;
    // Device thread only from start() on.
    Fd client_;
    bool client_done_writing_ = false;  // it shut down its sending side (socat at stdin EOF)
    std::string to_client_;             // guest bytes not yet sent to a client
    std::string to_guest_;              // client bytes not yet on the ring
    std::unique_ptr<MappedPages> ring_page_;
    std::optional<ConsoleRing> ring_;
};

}  // namespace domus::backends
