// VbdDevice: one PV block device of a domain, the monitor's side of the split driver.
// It writes the device's XenBus directories as Xen's toolstack and backend do
// (frontend: /local/domain/<d>/device/vbd/<id>, backend: /local/domain/0/backend/vbd/
// <d>/<id>), follows the frontend through the XenBus states, then serves its ring with
// BlkBack on a thread of its own. Guest pages are reached only through grants.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "backends/backend_host.hpp"
#include "backends/blkback.hpp"
#include "base/fd.hpp"
#include "base/result.hpp"
#include "monitor/grant_table.hpp"
#include "monitor/vbd_config.hpp"
#include "storage/block_image.hpp"
#include "store/client.hpp"

namespace domus::monitor {

class Domain;

class VbdDevice final : public backends::BackendHost {
public:
    // Opens the image and publishes the device (backend state InitWait).
    static Result<std::unique_ptr<VbdDevice>> create(Domain& domain, const VbdConfig& config,
                                                     const std::string& store_socket);
    ~VbdDevice() override;

    void start();
    backends::BlkStats stats() const;

    // BackendHost
    Result<std::unique_ptr<backends::MappedPage>> map_grant(grant_ref_t ref,
                                                            bool writable) override;
    void notify_frontend() override;

private:
    VbdDevice(Domain& domain, VbdConfig config, std::unique_ptr<storage::BlockImage> image,
              store::Client store);
    Result<void> publish();
    void thread_main();
    void frontend_changed();
    Result<void> connect();
    void disconnect();
    void fail_frontend();
    Result<void> set_backend_state(int state);

    Domain& domain_;
    VbdConfig config_;
    std::unique_ptr<storage::BlockImage> image_;
    store::Client store_;
    std::string frontend_dir_;
    std::string backend_dir_;
    Fd doorbell_;
    Fd stop_;
    std::thread thread_;
    // Connected state (backend thread only).
    GrantMapping ring_page_;
    std::unique_ptr<backends::BlkBack> blkback_;
    evtchn_port_t port_ = 0;
    bool connected_ = false;
    mutable std::mutex stats_mutex_;
    backends::BlkStats stats_;
};

}  // namespace domus::monitor
