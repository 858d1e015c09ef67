// `domus mem-set DOMAIN SIZE` and `domus mem-max DOMAIN SIZE`, as xl's: SIZE is MiB, or
// a number with a k, m, g or t suffix (KiB, MiB, GiB, TiB). The daemon checks the rest.
#include <CLI/CLI.hpp>
#include <cctype>
#include <limits>

#include "cli/daemon_connection.hpp"

namespace domus::cli {
namespace {

// xl's parse_mem_size_kb: the size in KiB, or an error naming the text.
Result<std::uint64_t> parse_size_kib(const std::string& text) {
    std::size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])))
        ++digits;
    auto bad = [&] {
        return make_error(
            "invalid memory size \"{}\": expected a number of MiB, or one with a "
            "k, m, g or t suffix (e.g. 512, 512m, 2g)",
            text);
    };
    if (digits == 0 || digits > 15 || text.size() > digits + 1) return bad();
    std::uint64_t value = std::stoull(text.substr(0, digits));
    std::uint64_t scale = 1024;  // plain: MiB
    if (text.size() == digits + 1) {
        switch (std::tolower(static_cast<unsigned char>(text[digits]))) {
            case 'k':
                scale = 1;
                break;
            case 'm':
                scale = 1024;
                break;
            case 'g':
                scale = 1024 * 1024;
                break;
            case 't':
                scale = 1024ull * 1024 * 1024;
                break;
            default:
                return bad();
        }
    }
    if (value > std::numeric_limits<std::uint64_t>::max() / scale) return bad();
    return value * scale;
}

}  // namespace

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
            auto kib = parse_size_kib(options->size);
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
