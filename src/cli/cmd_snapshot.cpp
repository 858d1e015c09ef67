// `domus snapshot create|list|revert|delete DOMAIN [NAME]`: copy-on-write snapshots of a running
// domain's writable disks (toolstack/snapshot_index.hpp has the model).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>

#include "cli/daemon_connection.hpp"

namespace domus::cli {
namespace {

struct SnapshotOptions {
    std::string domain;
    std::string name;
    bool json = false;
};

std::string local_time(double unix_seconds) {
    std::time_t t = std::time_t(unix_seconds);
    std::tm tm{};
    ::localtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &tm);
    return text;
}

}  // namespace

void add_snapshot_command(CLI::App& app, int& status) {
    auto* snapshot = app.add_subcommand("snapshot", "Disk snapshots of a running domain");
    snapshot->require_subcommand(1);

    auto create = std::make_shared<SnapshotOptions>();
    auto* command = snapshot->add_subcommand(
        "create",
        "Freeze the domain's writable disks as snapshot NAME; writes go to a new overlay");
    command->add_option("domain", create->domain, "Domain name or ID")->required();
    command->add_option("name", create->name, "Snapshot name (default: the time)");
    command->callback([create, &status] {
        if (create->name.empty()) {
            std::time_t now = std::time(nullptr);
            std::tm tm{};
            ::localtime_r(&now, &tm);
            char name[32];
            std::strftime(name, sizeof(name), "%Y%m%d-%H%M%S", &tm);
            create->name = name;
        }
        auto reply = daemon_request(
            {{"op", "snapshot-create"}, {"domain", create->domain}, {"name", create->name}});
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        std::printf("snapshot %s: %zu disk(s), domain paused %.2f ms\n", create->name.c_str(),
                    (*reply)["disks"].size(), (*reply)["paused_ms"].get<double>());
        status = 0;
    });

    auto list = std::make_shared<SnapshotOptions>();
    command = snapshot->add_subcommand("list", "List the snapshots of the domain's disks");
    command->add_option("domain", list->domain, "Domain name or ID")->required();
    command->add_flag("--json", list->json, "Machine-readable output");
    command->callback([list, &status] {
        auto reply = daemon_request({{"op", "snapshot-list"}, {"domain", list->domain}});
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        const auto& rows = (*reply)["snapshots"];
        if (list->json) {
            std::printf("%s\n", rows.dump(2).c_str());
        } else {
            // '*': the snapshot the disk's current state grows from.
            std::printf("  %-6s %-24s %-19s %s\n", "Disk", "Name", "Created", "Image");
            for (const auto& row : rows)
                std::printf("%c %-6s %-24s %-19s %s\n", row["current"].get<bool>() ? '*' : ' ',
                            row["vdev"].get<std::string>().c_str(),
                            row["name"].get<std::string>().c_str(),
                            local_time(row["created_unix"].get<double>()).c_str(),
                            row["image"].get<std::string>().c_str());
        }
        status = 0;
    });

    auto revert = std::make_shared<SnapshotOptions>();
    command = snapshot->add_subcommand(
        "revert",
        "Return the domain's disks to snapshot NAME (live: the guest's disk changes under it; "
        "reboot it or let it re-read)");
    command->add_option("domain", revert->domain, "Domain name or ID")->required();
    command->add_option("name", revert->name, "Snapshot name")->required();
    command->callback([revert, &status] {
        auto reply = daemon_request(
            {{"op", "snapshot-revert"}, {"domain", revert->domain}, {"name", revert->name}});
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        std::printf("reverted to %s, domain paused %.2f ms\n", revert->name.c_str(),
                    (*reply)["paused_ms"].get<double>());
        status = 0;
    });

    auto remove = std::make_shared<SnapshotOptions>();
    command = snapshot->add_subcommand(
        "delete",
        "Delete snapshot NAME while the domain runs: its data is merged into the images built "
        "on it (every other snapshot and the disk keep their content), then its file goes");
    command->add_option("domain", remove->domain, "Domain name or ID")->required();
    command->add_option("name", remove->name, "Snapshot name")->required();
    command->callback([remove, &status] {
        auto reply = daemon_request(
            {{"op", "snapshot-delete"}, {"domain", remove->domain}, {"name", remove->name}});
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        for (const auto& disk : (*reply)["disks"])
            std::printf(
                "%s: removed %s, %.1f MiB (%.1f MiB written) merged into %zu "
                "snapshot(s)%s\n",
                disk["vdev"].get<std::string>().c_str(), disk["image"].get<std::string>().c_str(),
                double(disk["bytes"].get<std::uint64_t>()) / (1 << 20),
                double(disk["written"].get<std::uint64_t>()) / (1 << 20),
                disk["children_merged"].get<std::size_t>(),
                disk["active_merged"].get<bool>() ? " and the active overlay" : "");
        std::printf(
            "deleted %s: %zu disk(s), %.1f MiB merged, domain paused %.2f ms "
            "(guest I/O held at most %.2f ms)\n",
            remove->name.c_str(), (*reply)["disks"].size(),
            double((*reply)["bytes"].get<std::uint64_t>()) / (1 << 20),
            (*reply)["paused_ms"].get<double>(), (*reply)["longest_hold_ms"].get<double>());
        status = 0;
    });
}

}  // namespace domus::cli
