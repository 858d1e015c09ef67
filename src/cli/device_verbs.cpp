// `<kind>-detach` and `<kind>-list` (see device_verbs.hpp).
#include "cli/device_verbs.hpp"

#include <cstdio>
#include <memory>

#include "cli/daemon_connection.hpp"

namespace domus::cli {
namespace {

struct DeviceOptions {
    std::string domain;
    std::string device;
    bool force = false;
    double timeout_s = 10;
    bool json = false;
};

}  // namespace

void add_detach_verb(CLI::App& app, int& status, const DeviceKind& kind) {
    auto options = std::make_shared<DeviceOptions>();
    auto* command = app.add_subcommand(kind.prefix + "-detach",
                                       "Remove " + kind.noun + " from a running domain");
    command->add_option("domain", options->domain, "Domain name or ID")->required();
    command->add_option(kind.device_key, options->device, kind.device_help)->required();
    command->add_flag("-f,--force", options->force,
                      "Remove it even if the guest does not release it (its I/O fails)");
    command->add_option("--timeout", options->timeout_s, "Seconds to wait for the guest")
        ->check(CLI::Range(0.0, 600.0));
    command->callback([options, kind, &status] {
        auto reply = daemon_request({{"op", kind.prefix + "-detach"},
                                     {"domain", options->domain},
                                     {kind.device_key, options->device},
                                     {"force", options->force},
                                     {"timeout_ms", std::int64_t(options->timeout_s * 1000)}});
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        if (reply->value("forced", false))
            std::fprintf(stderr, "domus: the guest did not release %s%s; removed by force\n",
                         kind.what.c_str(), options->device.c_str());
        status = 0;
    });
}

void add_list_verb(CLI::App& app, int& status, const DeviceKind& kind) {
    auto options = std::make_shared<DeviceOptions>();
    auto* command = app.add_subcommand(kind.prefix + "-list", "List a domain's " + kind.list_field);
    command->add_option("domain", options->domain, "Domain name or ID")->required();
    command->add_flag("--json", options->json, "Machine-readable output");
    command->callback([options, kind, &status] {
        auto reply = daemon_request({{"op", kind.prefix + "-list"}, {"domain", options->domain}});
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        if (options->json)
            std::printf("%s\n", (*reply)[kind.list_field].dump(2).c_str());
        else
            kind.print((*reply)[kind.list_field]);
        status = 0;
    });
}

}  // namespace domus::cli
