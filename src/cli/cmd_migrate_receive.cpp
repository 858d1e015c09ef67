// `domus migrate-receive`: the destination's end of `domus migrate`. The stream comes on
// stdin; it is spooled into the run directory, checked whole and restored (any failure
// tears the half-made domain down); the answer for the source goes to stdout:
// "migrate-receive: ok <domid>" once the domain runs here, or an error and status 1.
// --cold: stdin carries only the xl configuration, and the domain is created afresh.
// --copy-disks [--disk-dir DIR]: a disk stream comes first (toolstack/disk_copy.hpp).
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "base/fd.hpp"
#include "cli/commands.hpp"
#include "cli/daemon_connection.hpp"
#include "toolstack/disk_copy.hpp"

namespace domus::cli {
namespace {

Result<void> spool(int from, int to) {
    char buffer[1 << 16];
    for (;;) {
        ssize_t n = ::read(from, buffer, sizeof(buffer));
        if (n == 0) return {};
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_error("reading the stream");
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = ::write(to, buffer + done, std::size_t(n - done));
            if (w < 0) {
                if (errno == EINTR) continue;
                return errno_error("spooling the stream");
            }
            done += w;
        }
    }
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
        if (*cold) {
            std::string text;
            char buffer[4096];
            for (ssize_t n; (n = ::read(0, buffer, sizeof(buffer))) > 0;)
                text.append(buffer, std::size_t(n));
            auto reply =
                daemon_request({{"op", "create"}, {"config", text}, {"file", "<migration>"}});
            if (!reply) {
                status = fail(reply.error());
                return;
            }
            std::printf("migrate-receive: ok %d\n", (*reply)["domid"].get<int>());
            std::fflush(stdout);
            status = 0;
            return;
        }
        // --copy-disks: the disk files first; the domain runs on the copies (or they go).
        toolstack::DiskMoves moves;
        if (*copy_disks) {
            auto received = toolstack::receive_disks(0, *disk_dir);
            if (!received) {
                status = fail(received.error());
                return;
            }
            moves = std::move(received).value();
        }
        auto dir = run_dir();
        (void)daemon_request({{"op", "list"}});  // starts domusd (and its run directory)
        std::string file = dir.root + "/incoming-" + std::to_string(::getpid()) + ".img";
        Fd out(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!out) {
            status = fail(errno_error("open " + file));
            return;
        }
        auto spooled = spool(0, out.get());
        out.reset();
        Result<nlohmann::json> reply = make_error("no stream");
        if (spooled)
            reply = daemon_request({{"op", "restore"}, {"file", file}, {"disk_moves", moves}},
                                   report_phase);
        else
            reply = std::move(spooled).error();
        ::unlink(file.c_str());
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
