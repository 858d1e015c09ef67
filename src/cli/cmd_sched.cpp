// `domus sched-credit`, `domus vcpu-pin`, `domus vcpu-list`: the credit scheduler's
// weight and cap, vCPU pinning, and where the vCPUs run, as xl shows them.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>

#include "cli/daemon_connection.hpp"

namespace domus::cli {
namespace {

void add_sched_credit(CLI::App& app, int& status) {
    struct Options {
        std::string domain;
        std::optional<std::int64_t> weight;
        std::optional<std::int64_t> cap;
    };
    auto options = std::make_shared<Options>();
    auto* command = app.add_subcommand(
        "sched-credit", "Show or set domains' credit scheduler weight and cap (as xl)");
    command->add_option("-d,--domain", options->domain, "Domain name or ID (default: all)");
    command->add_option("-w,--weight", options->weight, "Relative weight, 1..65535 (default 256)");
    command->add_option("-c,--cap", options->cap, "Cap in percent of one CPU (0: none)");
    command->callback([options, &status] {
        nlohmann::json request = {{"op", "sched-credit"}};
        if (!options->domain.empty()) request["domain"] = options->domain;
        if (options->weight) request["weight"] = *options->weight;
        if (options->cap) request["cap"] = *options->cap;
        if (options->domain.empty() && (options->weight || options->cap)) {
            status = fail(make_error("setting a weight or cap needs a domain (-d)"));
            return;
        }
        auto reply = daemon_request(request);
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        if (!options->weight && !options->cap) {
            std::printf("%-33s %4s %6s %4s\n", "Name", "ID", "Weight", "Cap");
            for (const auto& row : (*reply)["domains"])
                std::printf("%-33s %4d %6u %4u\n", row["name"].get<std::string>().c_str(),
                            row["domid"].get<int>(), row["weight"].get<unsigned>(),
                            row["cap"].get<unsigned>());
        }
        status = 0;
    });
}

void add_vcpu_pin(CLI::App& app, int& status) {
    struct Options {
        std::string domain, vcpu, cpus;
    };
    auto options = std::make_shared<Options>();
    auto* command = app.add_subcommand("vcpu-pin", "Pin a domain's vCPU (or all) to host CPUs");
    command->add_option("domain", options->domain, "Domain name or ID")->required();
    command->add_option("vcpu", options->vcpu, "vCPU number, or all")->required();
    command->add_option("cpus", options->cpus, "Host CPUs: all, 2, 0-1, 0,1, 0-3,^1")->required();
    command->callback([options, &status] {
        auto reply = daemon_request({{"op", "vcpu-pin"},
                                     {"domain", options->domain},
                                     {"vcpu", options->vcpu},
                                     {"cpus", options->cpus}});
        status = reply ? 0 : fail(reply.error());
    });
}

void add_vcpu_list(CLI::App& app, int& status) {
    auto domain = std::make_shared<std::string>();
    auto* command = app.add_subcommand("vcpu-list", "List domains' vCPUs and where they run");
    command->add_option("domain", *domain, "Domain name or ID (default: all)");
    command->callback([domain, &status] {
        nlohmann::json request = {{"op", "vcpu-list"}};
        if (!domain->empty()) request["domain"] = *domain;
        auto reply = daemon_request(request);
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        std::printf("%-32s %5s %5s %5s %5s %9s %s\n", "Name", "ID", "VCPU", "CPU", "State",
                    "Time(s)", "Affinity");
        for (const auto& row : (*reply)["vcpus"]) {
            int cpu = row["cpu"].get<int>();
            std::string where = cpu < 0 ? "-" : std::to_string(cpu);
            std::printf("%-32s %5d %5u %5s %5s %9.1f %s\n", row["name"].get<std::string>().c_str(),
                        row["domid"].get<int>(), row["vcpu"].get<unsigned>(), where.c_str(),
                        row["state"].get<std::string>().c_str(), row["seconds"].get<double>(),
                        row["affinity"].get<std::string>().c_str());
        }
        status = 0;
    });
}

}  // namespace

void add_sched_commands(CLI::App& app, int& status) {
    add_sched_credit(app, status);
    add_vcpu_pin(app, status);
    add_vcpu_list(app, status);
}

}  // namespace domus::cli
