// `domus pause|unpause|shutdown [-w]|reboot|destroy DOMAIN`: one request to domusd each.
#include <CLI/CLI.hpp>

#include "cli/daemon_connection.hpp"

namespace domus::cli {

void add_lifecycle_commands(CLI::App& app, int& status) {
    struct Verb {
        const char* name;
        const char* help;
        bool can_wait;
    };
    static constexpr Verb kVerbs[] = {
        {"pause", "Pause a domain (its vCPUs stop; events stay pending)", false},
        {"unpause", "Resume a paused domain", false},
        {"shutdown", "Ask a domain to power off (through control/shutdown)", true},
        {"reboot", "Ask a domain to reboot (through control/shutdown)", true},
        {"destroy", "Stop a domain at once and free it", false},
    };
    for (const Verb& verb : kVerbs) {
        struct Options {
            std::string domain;
            bool wait = false;
        };
        auto options = std::make_shared<Options>();
        auto* command = app.add_subcommand(verb.name, verb.help);
        command->add_option("domain", options->domain, "Domain name or ID")->required();
        if (verb.can_wait)
            command->add_flag("-w,--wait", options->wait, "Wait until the domain has shut down");
        command->callback([options, name = verb.name, &status] {
            auto reply = daemon_request(
                {{"op", name}, {"domain", options->domain}, {"wait", options->wait}});
            status = reply ? 0 : fail(reply.error());
        });
    }
}

}  // namespace domus::cli
