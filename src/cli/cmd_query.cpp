// `domus domid NAME`, `domus domname ID`, `domus info`, `domus uptime`: read-only queries.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/daemon_connection.hpp"
#include "cli/progress_line.hpp"

namespace domus::cli {
namespace {

std::string format_uptime(double seconds) {
    long total = long(seconds);
    long days = total / 86400, hours = total / 3600 % 24, minutes = total / 60 % 60,
         secs = total % 60;
    char text[64];
    if (days)
        std::snprintf(text, sizeof(text), "%ld day%s, %2ld:%02ld:%02ld", days, days == 1 ? "" : "s",
                      hours, minutes, secs);
    else
        std::snprintf(text, sizeof(text), "%2ld:%02ld:%02ld", hours, minutes, secs);
    return text;
}

}  // namespace

void add_query_commands(CLI::App& app, int& status) {
    auto key = std::make_shared<std::string>();
    auto* domid = app.add_subcommand("domid", "Print a domain's ID");
    domid->add_option("name", *key, "Domain name")->required();
    domid->callback([key, &status] {
        auto reply = daemon_request({{"op", "domid"}, {"domain", *key}});
        if (reply) std::printf("%d\n", (*reply)["domid"].get<int>());
        status = reply ? 0 : fail(reply.error());
    });
    auto* domname = app.add_subcommand("domname", "Print a domain's name");
    domname->add_option("id", *key, "Domain ID")->required();
    domname->callback([key, &status] {
        auto reply = daemon_request({{"op", "domname"}, {"domain", *key}});
        if (reply) std::printf("%s\n", (*reply)["name"].get<std::string>().c_str());
        status = reply ? 0 : fail(reply.error());
    });
    auto* info = app.add_subcommand("info", "Host, version and store information");
    info->callback([&status] {
        auto reply = daemon_request({{"op", "info"}});
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        for (const char* field :
             {"host", "version", "abi_version", "nr_cpus", "total_memory_mib", "free_memory_mib",
              "free_memory", "domain_memory_mib", "memory_overcommit", "run_dir", "store_socket",
              "domains", "daemon_uptime_seconds", "metrics"}) {
            if (!reply->contains(field)) continue;
            const auto& value = (*reply)[field];
            std::printf(
                "%-22s: %s\n", field,
                value.is_string() ? value.get<std::string>().c_str() : value.dump().c_str());
        }
        if (auto pool = reply->find("monitor_pool"); pool != reply->end() && pool->is_object())
            std::printf(
                "%-22s: %u warm of %u; starts: %llu from it, %llu new; monitors: %llu forked, "
                "%llu exec'd\n",
                "monitor_pool", pool->value("warm", 0u), pool->value("size", 0u),
                static_cast<unsigned long long>(pool->value("handed", 0ull)),
                static_cast<unsigned long long>(pool->value("cold", 0ull)),
                static_cast<unsigned long long>(pool->value("forked", 0ull)),
                static_cast<unsigned long long>(pool->value("execd", 0ull)));
        // Saves, restores and migrations running now (none: no line).
        if (auto running = reply->find("operations");
            running != reply->end() && running->is_array())
            for (const auto& operation : *running)
                std::printf("%-22s: %s\n", "operation", progress_line(operation).c_str());
        status = 0;
    });
    auto* uptime = app.add_subcommand("uptime", "How long each domain has been up");
    uptime->callback([&status] {
        auto reply = daemon_request({{"op", "list"}});
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        std::printf("%-32s %5s %s\n", "Name", "ID", "Uptime");
        for (const auto& row : (*reply)["domains"])
            std::printf("%-32s %5d %s\n", row["name"].get<std::string>().c_str(),
                        row["domid"].get<int>(),
                        format_uptime(row["uptime_seconds"].get<double>()).c_str());
        status = 0;
    });
}

}  // namespace domus::cli
