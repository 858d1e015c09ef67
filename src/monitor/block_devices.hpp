// BlockDevices: a domain's PV block devices, from boot to hot-plug. Attach and detach
// work on a running domain (xl block-attach / block-detach); replace_images() switches
// disks to other images at one consistent point, for snapshots and their revert.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/block/vbd_device.hpp"
#include "base/result.hpp"
#include "config/vbd_config.hpp"
#include "storage/block_image.hpp"

namespace domus::monitor {

class Domain;

class BlockDevices {
public:
    BlockDevices(Domain& domain, std::string store_socket)
        : domain_(domain), store_socket_(std::move(store_socket)) {}
    ~BlockDevices() { clear(); }

    // Publishes a new device; its frontend connects when the guest sees it. The vdev and
    // its device number must be free.
    Result<void> attach(const config::VbdConfig& config);

    // Asks the frontend to let go and waits for it (up to `timeout`), then removes the
    // device. A guest that does not answer keeps its device unless `force`; a forced
    // removal ends its I/O with errors. Returns whether the removal was forced.
    Result<bool> detach(const std::string& vdev, bool force, std::chrono::milliseconds timeout);

    struct Replacement {
        std::string vdev;
        std::string target;
        config::DiskFormat format = config::DiskFormat::qcow2;
    };
    // Switches each named disk to its new image with the vCPUs paused: all or none.
    // Returns how long the vCPUs were paused, in milliseconds.
    Result<double> replace_images(const std::vector<Replacement>& replacements);

    struct Rebase {
        std::uint64_t bytes = 0;     // data copied into the active overlay
        bool streamed = false;       // false: its backing file was not `removed`, only reopened
        double longest_hold_ms = 0;  // the longest the guest's requests waited for one chunk
    };
    // Drops image `removed` from disk `vdev`'s chain while the guest runs (a snapshot
    // delete). When the active overlay's backing file is `removed`: streams what the
    // overlay lacks from it (a chunk at a time between guest requests, a cluster the
    // guest wrote meanwhile kept), then rebases the overlay onto `backing` (`format`).
    // Otherwise (an image further down was replaced by its merged copy, or a repeat)
    // reopens the overlay's chain, letting go of the files no longer in it. Idempotent.
    Result<Rebase> rebase_image(const std::string& vdev, const std::string& removed,
                                const std::string& backing, storage::Format format);

    // A new rate limit for disk `vdev` (bytes and requests a second, 0: unlimited).
    Result<void> set_rate(const std::string& vdev, std::uint64_t bytes_per_second,
                          std::uint64_t requests_per_second);

    // The image each disk uses now, as (vdev, target), after any change in progress.
    std::vector<std::pair<std::string, std::string>> images();
    // Every image's cached metadata and data written to its files (a migration copying
    // the files: --copy-disks).
    Result<void> flush_images();

    struct DiskStats {
        std::string vdev;
        backends::BlkStats blk;
    };
    std::vector<DiskStats> stats() const;
    // Stops every device (before the event channels and grant table they use go away).
    void clear();

private:
    backends::VbdDevice* find_locked(const std::string& vdev) const;

    Domain& domain_;
    std::string store_socket_;
    std::mutex change_mutex_;   // one attach, detach or replacement at a time
    mutable std::mutex mutex_;  // guards devices_
    std::vector<std::unique_ptr<backends::VbdDevice>> devices_;
};

}  // namespace domus::monitor
