// Integration tests with real networks: a network namespace of the test's own (the CLI,
// domusd and the monitors inherit it) with a bridge xenbr0 and an outward veth uplink0
// (10.200.0.1/24), the host tools (ip, nft, ping, curl, iperf) and a guest's console.
#pragma once

#include <gtest/gtest.h>
#include <sched.h>

#include <fstream>
#include <string>
#include <vector>

#include "toolstack_fixture.hpp"

namespace domus::test {

class NetworkFixture : public ToolstackTest {
protected:
    void SetUp() override {
        ToolstackTest::SetUp();
        if (IsSkipped()) return;
        if (::unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "no network namespace: " << errno;
        std::ofstream("/proc/sys/net/ipv6/conf/default/disable_ipv6") << "1";
        ip({"link", "set", "lo", "up"});
        ip({"link", "add", "xenbr0", "type", "bridge"});
        ip({"link", "set", "xenbr0", "up"});
        // The host's outward interface, for vif-route to borrow its address from.
        ip({"link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1"});
        ip({"addr", "add", "10.200.0.1/24", "dev", "uplink0"});
        ip({"link", "set", "uplink0", "up"});
    }

    ProcessResult tool(const std::string& name, std::vector<std::string> args,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        args.insert(args.begin(), "/usr/sbin/" + name);
        return run_process(args, limit);
    }
    void ip(std::vector<std::string> args) {
        auto r = tool("ip", std::move(args));
        ASSERT_EQ(r.status, 0) << r.err;
    }
    std::string show(const std::vector<std::string>& args) { return tool("ip", args).out; }
    static ProcessResult ping(std::vector<std::string> args) {
        args.insert(args.begin(), "/usr/bin/ping");
        return run_process(args, std::chrono::seconds(30));
    }
    static ProcessResult curl(std::vector<std::string> args,
                              std::chrono::milliseconds limit = std::chrono::seconds(30)) {
        args.insert(args.begin(), {"/usr/bin/curl", "-sS", "--noproxy", "*"});
        return run_process(args, limit);
    }

    // What the domain's console has printed so far (the monitor replays its history to
    // a client that attaches; the client is stopped after `wait`).
    std::string console(const std::string& domain,
                        std::chrono::milliseconds wait = std::chrono::milliseconds(500)) {
        return domus({"console", domain}, wait).out;
    }
    // Waits until the console shows `text`.
    bool console_shows(const std::string& domain, const std::string& text,
                       std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        return eventually([&] { return console(domain).find(text) != std::string::npos; }, limit);
    }
    // A domain from guest image `app` with these vifs and arguments, kept after poweroff
    // (so its console can still be read).
    std::string guest_config(const std::string& name, const std::string& app,
                             const std::string& vifs, const std::string& args = "",
                             unsigned memory_mib = 64) {
        return config(name, "name = \"" + name + "\"\nkernel = \"" + guest_image(app) +
                                "\"\nmemory = " + std::to_string(memory_mib) + "\nvif = [ " + vifs +
                                " ]\nextra = \"" + args + "\"\non_poweroff = \"preserve\"\n");
    }
};

}  // namespace domus::test
