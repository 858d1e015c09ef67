// `domus mem-set DOMAIN SIZE` and `domus mem-max DOMAIN SIZE`, as xl's: SIZE is MiB, or
// a number with a k, m, g or t suffix (config/memory_size.hpp). The daemon checks the rest.
#include <CLI/CLI.hpp>

#include "cli/daemon_connection.hpp"
#include "config/memory_size.hpp"

namespace domus::cli {

void add_memory_commands(CLI::App& app, int& status) {
    struct Verb {
        const char* name;
        const char* help;
    };
    static constexpr Verb kVerbs[] = {
        {"mem-set", "Set a domain's memory target (its balloon driver follows; kept on restart)"},
        {"mem-max",
         "Set the most memory a domain may hold (not below what it holds now, not "
         "above its maxmem)"},
    };
    for (const Verb& verb : kVerbs) {
        struct Options {
            std::string domain;
            std::string size;
        };
        auto options = std::make_shared<Options>();
        auto* command = app.add_subcommand(verb.name, verb.help);
        command->add_option("domain", options->domain, "Domain name or ID")->required();
        command->add_option("size", options->size, "MiB, or a number with k/m/g/t")->required();
        command->callback([options, name = verb.name, &status] {
            auto kib = config::parse_memory_size_kib(options->size);
            if (!kib) {
                status = fail(kib.error());
                return;
            }
            auto reply = daemon_request({{"op", name}, {"domain", options->domain}, {"kib", *kib}});
            status = reply ? 0 : fail(reply.error());
        });
    }
}

}  // namespace domus::cli
