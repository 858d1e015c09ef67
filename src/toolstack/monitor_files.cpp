// MonitorFiles: a request's files, opened here and passed with it (SCM_RIGHTS).
#include "toolstack/monitor_files.hpp"

#include <fcntl.h>

#include "backends/net/tap.hpp"
#include "base/unix_socket.hpp"

namespace domus::toolstack {

Result<void> MonitorFiles::push(PassedFile file) {
    if (files_.size() >= kMaxPassedFds)
        return make_error("{}: more than {} files for one request", file.path, kMaxPassedFds);
    files_.push_back(std::move(file));
    return {};
}

Result<void> MonitorFiles::add(const std::string& path, int flags) {
    std::string normal = normal_path(path);
    constexpr int kKind = O_ACCMODE | O_DIRECT;
    for (const auto& file : files_)
        if (file.path == normal && (::fcntl(file.fd.get(), F_GETFL) & kKind) == (flags & kKind))
            return {};
    auto& host = HostFiles::process();  // domusd's: by path
    DOMUS_TRY(resolved, host.real_path(path));
    DOMUS_TRY(fd, host.open(path, flags));
    return push({std::move(normal), std::move(resolved), std::move(fd)});
}

Result<void> MonitorFiles::add_chain(const std::string& path, storage::Format format, bool writable,
                                     bool direct) {
    int top = writable ? O_RDWR : O_RDONLY;
    if (direct) {
        // Probed (format autodetect) through a plain descriptor; the disk's own is O_DIRECT.
        DOMUS_TRY_VOID(add(path, top | O_DIRECT));
        return add(path, O_RDONLY);
    }
    DOMUS_TRY(paths, storage::chain_paths(path, format));
    DOMUS_TRY_VOID(add(paths.front(), top));
    for (std::size_t i = 1; i < paths.size(); ++i)
        DOMUS_TRY_VOID(add(paths[i], O_RDONLY));
    return {};
}

Result<void> MonitorFiles::add_disk(const config::DiskSpec& disk) {
    return add_chain(disk.target,
                     disk.format == "qcow2" ? storage::Format::qcow2 : storage::Format::raw,
                     !disk.read_only, disk.direct_io);
}

Result<void> MonitorFiles::add_connection(const std::string& path) {
    DOMUS_TRY(connection, connect_unix(path));
    return push({normal_path(path), path, std::move(connection)});
}

Result<void> MonitorFiles::add_tap(const std::string& ifname, std::uint32_t mtu) {
    DOMUS_TRY(tap, backends::Tap::make(ifname, mtu));
    return push({backends::Tap::passed_name(ifname), "", std::move(tap)});
}

nlohmann::json MonitorFiles::describe() const {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& file : files_)
        files.push_back({{"path", file.path}, {"real_path", file.real_path}});
    return files;
}

std::vector<int> MonitorFiles::fds() const {
    std::vector<int> fds;
    for (const auto& file : files_)
        fds.push_back(file.fd.get());
    return fds;
}

}  // namespace domus::toolstack
