// Monitoring through domusd as an operator uses it: `domus top -b` (xentop's columns)
// and the Prometheus endpoint, scraped with curl, for a domain that did disk I/O.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "toolstack_fixture.hpp"

namespace domus::test {
namespace {

class MonitoringTest : public ToolstackTest {
protected:
    // domusd, started by the CLI, reads its options from $DOMUS_DAEMON_CONFIG.
    void daemon_options(const std::string& text) {
        std::filesystem::create_directories(run_dir_);
        std::string path = run_dir_ + "/domusd.conf";
        std::ofstream(path) << text;
        ::setenv("DOMUS_DAEMON_CONFIG", path.c_str(), 1);
    }
    void TearDown() override {
        ::unsetenv("DOMUS_DAEMON_CONFIG");
        ToolstackTest::TearDown();
    }

    // A sample's value: `name{labels} value`.
    static double sample(const std::string& text, const std::string& series) {
        auto at = text.find("\n" + series + " ");
        if (at == std::string::npos) return -1;
        return std::stod(text.substr(at + series.size() + 2));
    }
};

TEST_F(MonitoringTest, TopAndMetricsShowADomainsCpuMemoryAndDiskCounters) {
    daemon_options("metrics-listen = \"127.0.0.1:0\"\n");
    std::string disk = image("d.raw", "16M", "raw");
    std::string cfg =
        config("mon", "name = \"mon\"\nkernel = \"" + guest_image("blk_tool") +
                          "\"\nmemory = 32\nmaxmem = 48\non_poweroff = \"preserve\"\ndisk = [ '" +
                          disk + ",raw,xvda,w' ]\nextra = \"mode=verify size_mb=8\"\n");
    ASSERT_EQ(domus({"create", cfg}).status, 0);
    auto console = domus({"console", "mon"}, std::chrono::seconds(60));
    ASSERT_NE(console.out.find("blk_tool: PASS"), std::string::npos) << console.out;

    // xentop's batch output: the header, Domain-0, then the domain with its disk.
    auto top = domus({"top", "-b", "-i", "2", "-d", "0.2"});
    ASSERT_EQ(top.status, 0) << top.err;
    std::regex row(
        R"(\n +mon +---s-- +\d+ +[\d.]+ +(\d+) +[\d.]+ +(\d+) +[\d.]+ +1 +0 +0 +0 +1 +(\d+) +(\d+) +(\d+) +(\d+)\n)");
    std::smatch match;
    ASSERT_TRUE(std::regex_search(top.out, match, row)) << top.out;
    EXPECT_EQ(std::stoul(match[1]), 32u * 1024);
    EXPECT_EQ(std::stoul(match[2]), 48u * 1024);
    EXPECT_GT(std::stoul(match[3]), 0u);         // reads
    EXPECT_GT(std::stoul(match[4]), 0u);         // writes
    EXPECT_GE(std::stoul(match[6]), 8u * 2048);  // the pattern: at least 8 MiB written
    std::size_t frames = 0;
    for (auto at = top.out.find("NAME"); at != std::string::npos; at = top.out.find("NAME", at + 1))
        ++frames;
    EXPECT_EQ(frames, 2u) << top.out;

    // The endpoint `domus info` names, scraped as Prometheus would.
    auto info = domus({"info"});
    std::smatch url;
    ASSERT_TRUE(std::regex_search(info.out, url, std::regex(R"(http://127\.0\.0\.1:\d+/metrics)")))
        << info.out;
    auto scrape = run_process({"/usr/bin/curl", "-sf", url.str()}, std::chrono::seconds(10));
    ASSERT_EQ(scrape.status, 0) << scrape.err;
    const std::string& text = scrape.out;
    EXPECT_EQ(sample(text, R"(domus_domain_info{domid="1",name="mon",state="s"})"), 1) << text;
    EXPECT_EQ(sample(text, R"(domus_domain_memory_bytes{domid="1",name="mon"})"), 32 << 20);
    EXPECT_EQ(sample(text, R"(domus_domain_memory_max_bytes{domid="1",name="mon"})"), 48 << 20);
    EXPECT_EQ(sample(text, R"(domus_domain_vbd_reads_total{domid="1",name="mon",vdev="xvda"})"),
              double(std::stoul(match[3])));
    EXPECT_GE(
        sample(text, R"(domus_domain_vbd_written_bytes_total{domid="1",name="mon",vdev="xvda"})"),
        8 << 20);
    EXPECT_GT(sample(text, R"(domus_domain_cpu_seconds_total{domid="1",name="mon"})"), 0);
    // A booted guest made hypercalls (each an exit) and took upcalls (its store replies).
    double hypercalls = sample(text, R"(domus_domain_hypercalls_total{domid="1",name="mon"})");
    EXPECT_GT(hypercalls, 0);
    EXPECT_GE(sample(text, R"(domus_domain_exits_total{domid="1",name="mon"})"), hypercalls);
    EXPECT_GT(sample(text, R"(domus_domain_upcalls_total{domid="1",name="mon"})"), 0);
    EXPECT_EQ(sample(text, "domus_store_up"), 1);
    EXPECT_GE(sample(text, "domus_daemon_requests_total"), 3);
}

TEST_F(MonitoringTest, BadSettingsAreRefusedClearly) {
    EXPECT_NE(domus({"top", "-d", "0"}).status, 0);
    EXPECT_NE(domus({"top", "-i", "0"}).status, 0);
    // A daemon told to listen on nonsense does not start, and says why in its log.
    daemon_options("metrics-listen = \"localhost\"\n");
    auto list = domus({"list"}, std::chrono::seconds(30));
    EXPECT_NE(list.status, 0);
    EXPECT_NE(list.err.find("could not start domusd"), std::string::npos) << list.err;
    std::ifstream log(run_dir_ + "/domusd.log");
    std::string text((std::istreambuf_iterator<char>(log)), {});
    EXPECT_NE(text.find("expected ADDR:PORT"), std::string::npos) << text;
}

}  // namespace
}  // namespace domus::test
