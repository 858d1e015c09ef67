// domusd: the disks of `domus migrate --copy-disks` (docs/migration.md "Copying disks").
// The source sends them, its domain suspended and its images flushed, ahead of the
// domain's stream; the destination's restore runs the domain on the copies.
#include "toolstack/daemon.hpp"
#include "toolstack/disk_copy.hpp"
#include "toolstack/json_socket.hpp"

namespace domus::toolstack {

Result<std::uint64_t> Daemon::send_domain_disks(const Entry& entry, int fd,
                                                MigrationProgress::Operation& operation) {
    // Every write the guest saw acknowledged, and the qcow2 metadata the monitor caches,
    // in the files before they are measured and read.
    DOMUS_TRY_VOID(json_request(run_dir_.control_socket(entry.domid), {{"op", "disks-flush"}},
                                std::chrono::seconds(30)));
    DOMUS_TRY(files, disk_chain_files(entry.spec.disk));
    operation.phase("disks");
    DOMUS_TRY(bytes, send_disks(fd, files, [&](std::uint64_t sent) {
                  operation.report({{"phase", "disks"}, {"disk_bytes", sent}});
              }));
    return bytes;
}

Result<void> apply_disk_moves(DomainSpec& spec, const nlohmann::json& request) {
    auto given = request.find("disk_moves");
    if (given == request.end() || !given->is_object() || given->empty()) return {};
    DiskMoves moves;
    for (const auto& [from, to] : given->items()) {
        if (!to.is_string()) return make_error("disk_moves: {} does not map to a path", from);
        moves[from] = to.get<std::string>();
    }
    DOMUS_TRY(disks, moved_disk_specs(spec.disk, moves));
    spec.disk = std::move(disks);
    return {};
}

}  // namespace domus::toolstack
