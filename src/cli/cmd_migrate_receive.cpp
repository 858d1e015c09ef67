// `domus migrate-receive`: the destination's end of `domus migrate`. The stream comes on
// stdin. Its header and configuration are read here; stdin then goes to domusd, which
// builds the domain from the configuration while the source still copies and has its
// monitor apply the rest as it comes (any failure tears the half-made domain down). The
// answer for the source goes to stdout: "migrate-receive: ok <domid>" once the domain
// runs here, or an error and status 1.
// --cold: stdin carries only the xl configuration, and the domain is created afresh.
// --copy-disks [--disk-dir DIR]: a disk stream comes first (toolstack/disk_copy.hpp).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/daemon_connection.hpp"
#include "migration/stream.hpp"
#include "toolstack/disk_copy.hpp"

namespace domus::cli {
namespace {

// The stream's header and its first record, the configuration (stream version 2), read
// exactly: the rest stays in stdin for the monitor.
Result<std::string> read_configuration(int fd) {
    migration::FdSource source(fd);
    migration::StreamReader reader(source);
    DOMUS_TRY(header, reader.header());
    DOMUS_TRY(record, reader.next());
    if (record.type != std::uint32_t(migration::RecordType::xl_config))
        return make_error(
            "the stream starts with {}, not the configuration: the source's Domus writes "
            "stream version {}, which a migration to this one cannot use (version {} or later)",
            migration::record_type_name(record.type), header.version, migration::kVersion);
    return std::string(record.body.begin(), record.body.end());
}

// The restore's phases go back to the source too (its domusd passes them on as
// "destination-<phase>"), one line each before the answer.
void report_phase(const nlohmann::json& event) {
    if (auto phase = event.find("phase"); phase != event.end() && phase->is_string()) {
        std::printf("migrate-receive: phase %s\n", phase->get<std::string>().c_str());
        std::fflush(stdout);
    }
}

}  // namespace

void add_migrate_receive_command(CLI::App& app, int& status) {
    auto* command =
        app.add_subcommand("migrate-receive", "Receive a migrating domain on stdin (internal)");
    auto cold = std::make_shared<bool>(false);
    command->add_flag("--cold", *cold, "stdin is an xl configuration: create the domain");
    auto copy_disks = std::make_shared<bool>(false);
    auto disk_dir = std::make_shared<std::string>();
    command->add_flag("--copy-disks", *copy_disks, "the disk files come first on stdin");
    command->add_option("--disk-dir", *disk_dir, "where the disk copies go");
    command->callback([&status, cold, copy_disks, disk_dir] {
        toolstack::DiskMoves moves;  // --copy-disks: each disk's copy here, removed on failure
        auto reply = [&]() -> Result<nlohmann::json> {
            if (*cold) {
                std::string text;
                char buffer[4096];
                for (ssize_t n; (n = ::read(0, buffer, sizeof(buffer))) > 0;)
                    text.append(buffer, std::size_t(n));
                return daemon_request(
                    {{"op", "create"}, {"config", text}, {"file", "<migration>"}});
            }
            if (*copy_disks) {
                DOMUS_TRY(received, toolstack::receive_disks(0, *disk_dir));
                moves = std::move(received);
            }
            DOMUS_TRY(config, read_configuration(0));
            return daemon_request({{"op", "restore"}, {"config", config}, {"disk_moves", moves}},
                                  report_phase, 0);
        }();
        if (!reply) {
            for (const auto& [from, copy] : moves)
                ::unlink(copy.c_str());
            status = fail(reply.error());
            return;
        }
        std::printf("migrate-receive: ok %d\n", (*reply)["domid"].get<int>());
        std::fflush(stdout);
        status = 0;
    });
}

}  // namespace domus::cli
