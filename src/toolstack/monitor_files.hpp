// MonitorFiles: the files one request to a domain's monitor needs, opened by domusd. A
// monitor under domusd opens no paths once its domain is built (base/host_files.hpp,
// docs/sandbox.md): what it may reach of the host is what domusd hands it here, for the
// disks the administrator named and the overlays domusd made.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/host_files.hpp"
#include "base/result.hpp"
#include "config/disk_spec.hpp"
#include "storage/block_image.hpp"

namespace domus::toolstack {

class MonitorFiles {
public:
    // The image `path` and every file of the backing chain below it: the top read-write
    // when `writable` (and O_DIRECT besides, for a `direct` raw top), the rest read-only.
    Result<void> add_chain(const std::string& path, storage::Format format, bool writable,
                           bool direct = false);
    // A domain's disk: its image's chain, as the disk's format, access and O_DIRECT say.
    Result<void> add_disk(const config::DiskSpec& disk);
    // One file, opened with `flags` (O_CLOEXEC is added).
    Result<void> add(const std::string& path, int flags);
    // A connection to the UNIX stream socket `path` (the store's, for a hot-plugged
    // device's backend: the monitor's user may not connect to it itself).
    Result<void> add_connection(const std::string& path);
    // A vif's TAP, made here (it takes CAP_NET_ADMIN, which the monitor no longer has).
    Result<void> add_tap(const std::string& ifname, std::uint32_t mtu);

    bool empty() const { return files_.empty(); }
    // The request's "files": one {path, real_path} per fd, in the order of fds().
    nlohmann::json describe() const;
    std::vector<int> fds() const;

private:
    Result<void> push(PassedFile file);  // within kMaxPassedFds

    std::vector<PassedFile> files_;
};

}  // namespace domus::toolstack
