// `domus vcpu-set DOMAIN N`: sets how many of a running domain's vCPUs are online
// (1..maxvcpus), as xl vcpu-set: the guest brings vCPUs up or takes them down itself.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/daemon_connection.hpp"

namespace domus::cli {

void add_vcpu_set_command(CLI::App& app, int& status) {
    struct Options {
        std::string domain;
        std::int64_t vcpus = 0;
    };
    auto options = std::make_shared<Options>();
    auto* command = app.add_subcommand("vcpu-set", "Set the number of online vCPUs of a domain");
    command->add_option("domain", options->domain, "Domain name or ID")->required();
    command->add_option("vcpus", options->vcpus, "vCPUs online, 1..maxvcpus")->required();
    command->callback([options, &status] {
        auto reply = daemon_request(
            {{"op", "vcpu-set"}, {"domain", options->domain}, {"vcpus", options->vcpus}});
        status = reply ? 0 : fail(reply.error());
    });
}

}  // namespace domus::cli
