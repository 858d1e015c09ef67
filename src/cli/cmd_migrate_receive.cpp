// `domus migrate-receive`: the destination's end of `domus migrate`. The stream comes on
// stdin. Its header and configuration are read here; stdin then goes to domusd, which
// builds the domain from the configuration while the source still copies and has its
// monitor apply the rest as it comes (any failure tears the half-made domain down). The
// answer for the source goes to stdout: "migrate-receive: ok <domid>" once the domain
// runs here, or an error and status 1.
// --cold: stdin carries only the xl configuration, and the domain is created afresh.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/daemon_connection.hpp"
#include "migration/stream.hpp"

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

}  // namespace

void add_migrate_receive_command(CLI::App& app, int& status) {
    auto* command =
        app.add_subcommand("migrate-receive", "Receive a migrating domain on stdin (internal)");
    auto cold = std::make_shared<bool>(false);
    command->add_flag("--cold", *cold, "stdin is an xl configuration: create the domain");
    command->callback([&status, cold] {
        Result<nlohmann::json> reply = make_error("no stream");
        if (*cold) {
            std::string text;
            char buffer[4096];
            for (ssize_t n; (n = ::read(0, buffer, sizeof(buffer))) > 0;)
                text.append(buffer, std::size_t(n));
            reply = daemon_request({{"op", "create"}, {"config", text}, {"file", "<migration>"}});
        } else if (auto config = read_configuration(0); !config) {
            reply = std::move(config).error();
        } else {
            reply = daemon_request({{"op", "restore"}, {"config", *config}}, 0);
        }
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        std::printf("migrate-receive: ok %d\n", (*reply)["domid"].get<int>());
        std::fflush(stdout);
        status = 0;
    });
}

}  // namespace domus::cli
