// `domus vif-rate DOMAIN DEVID|MAC RATE|off` and `domus block-rate DOMAIN VDEV [--bytes
// N[K|M|G]] [--iops N]`: a running domain's rate limits, changed at once and kept for a
// restart. RATE is xl's (10Mb/s@20ms); for a disk, 0 means unlimited.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/daemon_connection.hpp"
#include "config/rate_spec.hpp"

namespace domus::cli {
namespace {

struct RateOptions {
    std::string domain;
    std::string device;  // DEVID|MAC or VDEV
    std::string rate;    // vif: RATE|off
    std::string bytes;   // disk: N[K|M|G]
    std::string iops;
};

}  // namespace

void add_rate_commands(CLI::App& app, int& status) {
    auto vif = std::make_shared<RateOptions>();
    auto* command = app.add_subcommand("vif-rate", "Change a running domain's vif rate limit");
    command->add_option("domain", vif->domain, "Domain name or ID")->required();
    command->add_option("vif", vif->device, "The vif: its devid or its MAC")->required();
    command->add_option("rate", vif->rate, "RATE/s[@INTERVAL] as xl's rate= (10Mb/s@20ms), or off")
        ->required();
    command->callback([vif, &status] {
        if (vif->rate != "off") {
            if (auto rate = config::parse_vif_rate(vif->rate); !rate) {
                status = fail(make_error("rate: {}", rate.error().message));
                return;
            }
        }
        auto reply = daemon_request({{"op", "vif-rate"},
                                     {"domain", vif->domain},
                                     {"vif", vif->device},
                                     {"rate", vif->rate}});
        status = reply ? 0 : fail(reply.error());
    });

    auto disk = std::make_shared<RateOptions>();
    command = app.add_subcommand("block-rate", "Change a running domain's disk rate limit");
    command->add_option("domain", disk->domain, "Domain name or ID")->required();
    command->add_option("vdev", disk->device, "The disk: xvdb")->required();
    command->add_option("--bytes", disk->bytes, "Bytes a second, N[K|M|G]; 0: unlimited");
    command->add_option("--iops", disk->iops, "Requests a second; 0: unlimited");
    command->callback([disk, &status] {
        nlohmann::json request = {
            {"op", "block-rate"}, {"domain", disk->domain}, {"vdev", disk->device}};
        for (auto [key, text] :
             {std::pair{"rate_bytes", &disk->bytes}, std::pair{"rate_iops", &disk->iops}}) {
            if (text->empty()) continue;  // unchanged
            auto value = config::parse_scaled_number(*text);
            if (!value) {
                status = fail(make_error("{}: {}", key, value.error().message));
                return;
            }
            request[key] = *value;
        }
        if (disk->bytes.empty() && disk->iops.empty()) {
            status = fail(make_error("give --bytes, --iops or both"));
            return;
        }
        auto reply = daemon_request(request);
        status = reply ? 0 : fail(reply.error());
    });
}

}  // namespace domus::cli
