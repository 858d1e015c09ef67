// The figures behind `domus top` and the metrics endpoint: a monitor's `info` read into
// DomainStats, xentop's rows, the Prometheus text format, and the endpoint itself.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/socket.h>

#include "toolstack/domain_stats.hpp"
#include "toolstack/metrics_server.hpp"
#include "toolstack/metrics_text.hpp"
#include "toolstack/top_view.hpp"

namespace domus::toolstack {
namespace {

DomainStats web() {
    return DomainStats{
        .domid = 3,
        .name = "web",
        .state = "b",
        .cpu_seconds = 10.0,
        .uptime_seconds = 100.0,
        .memory_kib = 65536,
        .max_memory_kib = 131072,
        .vcpus = 2,
        .exits = 1200,
        .hypercalls = 1100,
        .upcalls = 300,
        .vbds = {{"xvda", 10, 20, 5120, 10240, 1}, {"xvdb", 1, 2, 512, 1024, 0}},
        .vifs = {{0, "vif3.0", 5, 4096, 6, 8192, 0, 0}, {1, "vif3.1", 1, 1024, 1, 2048, 2, 1}}};
}

StatsSnapshot snapshot(std::vector<DomainStats> domains) {
    return StatsSnapshot{
        .host = {.total_memory_kib = 1048576, .free_memory_kib = 524288, .nr_cpus = 2},
        .domains = std::move(domains)};
}

// Splits a row on spaces.
std::vector<std::string> fields(const std::string& line) {
    std::vector<std::string> out;
    std::string field;
    for (char c : line + " ") {
        if (c != ' ') {
            field += c;
        } else if (!field.empty()) {
            out.push_back(field);
            field.clear();
        }
    }
    return out;
}

TEST(DomainStatsTest, MonitorInfoFillsTheFiguresItHas) {
    DomainStats stats;
    stats.domid = 1;
    stats.name = "a";
    stats.memory_kib = 32768;
    stats.max_memory_kib = 65536;
    stats.vcpus = 1;
    nlohmann::json info = {{"state", "r"},
                           {"cpu_seconds", 1.5},
                           {"uptime_seconds", 9.0},
                           {"memory_mib", 32},
                           {"vcpus", 1},
                           {"exits", 17},
                           {"hypercalls", 16},
                           {"upcalls", 15},
                           {"vbds", {{{"vdev", "xvda"}, {"reads", 7}, {"writes", 3}}}},
                           {"vifs", {{{"devid", 0}, {"ifname", "vif1.0"}, {"rx_bytes", 99}}}}};
    ASSERT_TRUE(apply_monitor_info(info, stats));
    EXPECT_EQ(stats.state, "r");
    EXPECT_DOUBLE_EQ(stats.cpu_seconds, 1.5);
    EXPECT_EQ(stats.memory_kib, 32768u);
    EXPECT_EQ(stats.max_memory_kib, 65536u);  // not in the reply: the configured ceiling stays
    EXPECT_EQ(stats.exits, 17u);
    EXPECT_EQ(stats.hypercalls, 16u);
    EXPECT_EQ(stats.upcalls, 15u);
    ASSERT_EQ(stats.vbds.size(), 1u);
    EXPECT_EQ(stats.vbds[0].reads, 7u);
    EXPECT_EQ(stats.vbds[0].read_bytes, 0u);  // absent counters are 0
    ASSERT_EQ(stats.vifs.size(), 1u);
    EXPECT_EQ(stats.vifs[0].rx_bytes, 99u);

    // The exact figure wins over the MiB one where the monitor gives it (ballooning).
    info["memory_kib"] = 20000;
    ASSERT_TRUE(apply_monitor_info(info, stats));
    EXPECT_EQ(stats.memory_kib, 20000u);
}

TEST(DomainStatsTest, AMalformedReplyChangesNothing) {
    DomainStats stats = web();
    EXPECT_FALSE(apply_monitor_info(nlohmann::json::array(), stats));
    nlohmann::json bad = {{"state", "r"}, {"vbds", {{{"vdev", 5}}}}};  // vdev must be a string
    EXPECT_FALSE(apply_monitor_info(bad, stats));
    EXPECT_EQ(stats.state, "b");
    EXPECT_EQ(stats.vbds.size(), 2u);
}

TEST(DomainStatsTest, SnapshotsSurviveTheirJsonRoundTrip) {
    StatsSnapshot before = snapshot({web()});
    auto after = nlohmann::json(before).get<StatsSnapshot>();
    ASSERT_EQ(after.domains.size(), 1u);
    EXPECT_EQ(after.domains[0].vbds[1].vdev, "xvdb");
    EXPECT_EQ(after.domains[0].vbds[0].write_bytes, 10240u);
    EXPECT_EQ(after.host.free_memory_kib, 524288u);
}

TEST(DomainStatsTest, StateColumnsAreXls) {
    EXPECT_EQ(state_columns("r"), "r-----");
    EXPECT_EQ(state_columns("b"), "-b----");
    EXPECT_EQ(state_columns("c"), "----c-");
    EXPECT_EQ(state_columns("p"), "--p---");
    EXPECT_EQ(state_columns("?"), "------");
    EXPECT_EQ(state_columns("rb"), "------");
}

TEST(TopViewTest, RowsHaveXentopsColumns) {
    auto header = fields(top_header());
    std::vector<std::string> want = {"NAME",      "STATE",     "CPU(sec)",  "CPU(%)", "MEM(k)",
                                     "MEM(%)",    "MAXMEM(k)", "MAXMEM(%)", "VCPUS",  "NETS",
                                     "NETTX(k)",  "NETRX(k)",  "VBDS",      "VBD_RD", "VBD_WR",
                                     "VBD_RSECT", "VBD_WSECT"};
    EXPECT_EQ(header, want);
    auto rows = top_rows(snapshot({web()}), nullptr, 0);
    ASSERT_EQ(rows.size(), 1u);
    auto row = fields(rows[0]);
    ASSERT_EQ(row.size(), want.size()) << rows[0];
    EXPECT_EQ(row[0], "web");
    EXPECT_EQ(row[1], "-b----");
    EXPECT_EQ(row[2], "10");
    EXPECT_EQ(row[3], "10.0");  // first frame: 10 s over a 100 s life
    EXPECT_EQ(row[4], "65536");
    EXPECT_EQ(row[5], "6.2");  // 64 MiB of 1 GiB
    EXPECT_EQ(row[6], "131072");
    EXPECT_EQ(row[8], "2");
    EXPECT_EQ(row[9], "2");    // two vifs
    EXPECT_EQ(row[10], "5");   // KiB sent: 4 + 1
    EXPECT_EQ(row[11], "10");  // KiB received: 8 + 2
    EXPECT_EQ(row[12], "2");   // two disks
    EXPECT_EQ(row[13], "11");  // reads of both
    EXPECT_EQ(row[14], "22");
    EXPECT_EQ(row[15], "11");  // (5120 + 512) / 512 sectors
    EXPECT_EQ(row[16], "22");
}

TEST(TopViewTest, CpuPercentIsOverTheIntervalBetweenFrames) {
    StatsSnapshot before = snapshot({web()});
    DomainStats later = web();
    later.cpu_seconds = 10.5;  // half a second of CPU in two seconds
    auto row = fields(top_rows(snapshot({later}), &before, 2.0)[0]);
    EXPECT_EQ(row[3], "25.0");
    // The same ID under another name is a new domain: its whole life, not the interval.
    later.name = "other";
    row = fields(top_rows(snapshot({later}), &before, 2.0)[0]);
    EXPECT_EQ(row[3], "10.5");
}

TEST(TopViewTest, Domain0HasNoMemoryLimitAndTheSummaryCountsStates) {
    DomainStats dom0;
    dom0.name = "Domain-0";
    dom0.state = "r";
    dom0.memory_kib = 1000;
    auto row = fields(top_rows(snapshot({dom0, web()}), nullptr, 0)[0]);
    EXPECT_EQ(row[6], "no");  // "no limit"
    auto summary = top_summary(snapshot({dom0, web()}));
    ASSERT_EQ(summary.size(), 2u);
    EXPECT_EQ(summary[0], "2 domains: 1 running, 1 blocked, 0 paused, 0 crashed, 0 shutdown");
    EXPECT_EQ(summary[1], "Mem: 1048576k total, 524288k used, 524288k free    CPUs: 2");
}

TEST(MetricsTextTest, EveryFamilyOnceWithItsSamples) {
    std::string text = prometheus_text(snapshot({web()}), DaemonHealth{.uptime_seconds = 5,
                                                                       .requests = 7,
                                                                       .request_errors = 1,
                                                                       .store_restarts = 2,
                                                                       .store_up = true});
    EXPECT_NE(text.find("# TYPE domus_domain_cpu_seconds_total counter\n"
                        "domus_domain_cpu_seconds_total{domid=\"3\",name=\"web\"} 10\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("domus_domain_memory_bytes{domid=\"3\",name=\"web\"} 67108864\n"),
              std::string::npos);
    EXPECT_NE(text.find("# TYPE domus_domain_exits_total counter\n"
                        "domus_domain_exits_total{domid=\"3\",name=\"web\"} 1200\n"),
              std::string::npos);
    EXPECT_NE(text.find("domus_domain_hypercalls_total{domid=\"3\",name=\"web\"} 1100\n"),
              std::string::npos);
    EXPECT_NE(text.find("domus_domain_upcalls_total{domid=\"3\",name=\"web\"} 300\n"),
              std::string::npos);
    EXPECT_NE(text.find("domus_domain_info{domid=\"3\",name=\"web\",state=\"b\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("domus_domain_vbd_reads_total{domid=\"3\",name=\"web\",vdev=\"xvdb\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("domus_domain_vbd_written_bytes_total{domid=\"3\",name=\"web\",vdev="
                        "\"xvda\"} 10240\n"),
              std::string::npos);
    EXPECT_NE(text.find("domus_domain_net_receive_bytes_total{domid=\"3\",name=\"web\",vif="
                        "\"vif3.1\"} 2048\n"),
              std::string::npos);
    EXPECT_NE(text.find("domus_daemon_requests_total 7\n"), std::string::npos);
    EXPECT_NE(text.find("domus_store_restarts_total 2\n"), std::string::npos);
    EXPECT_NE(text.find("domus_store_up 1\n"), std::string::npos);
    // Each family's TYPE appears once, before its samples, and every line ends.
    std::size_t types = 0;
    for (std::size_t at = text.find("# TYPE domus_domain_vbd_reads_total"); at != std::string::npos;
         at = text.find("# TYPE domus_domain_vbd_reads_total", at + 1))
        ++types;
    EXPECT_EQ(types, 1u);
    EXPECT_EQ(text.back(), '\n');
}

TEST(MetricsTextTest, LabelValuesAreEscaped) {
    EXPECT_EQ(prometheus_label_value(R"(a"b\c)"), R"(a\"b\\c)");
    EXPECT_EQ(prometheus_label_value("x\ny"), "x\\ny");
}

TEST(MetricsServerTest, ListenAddressesAreParsedOrRefusedClearly) {
    auto v4 = parse_listen_address("127.0.0.1:9100");
    ASSERT_TRUE(v4);
    EXPECT_EQ(v4->host, "127.0.0.1");
    EXPECT_EQ(v4->port, 9100);
    auto v6 = parse_listen_address("[::1]:0");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->port, 0);
    for (const char* bad : {"9100", "127.0.0.1:", ":9100", "127.0.0.1:65536", "127.0.0.1:-1",
                            "127.0.0.1:9x", "::1:9100"}) {
        auto parsed = parse_listen_address(bad);
        ASSERT_FALSE(parsed) << bad;
        EXPECT_NE(parsed.error().message.find(bad), std::string::npos) << parsed.error().message;
    }
}

TEST(MetricsServerTest, ServesFreshFiguresOnMetricsOnly) {
    int scrapes = 0;
    auto server = MetricsServer::start(
        {"127.0.0.1", 0}, [&] { return "domus_up 1\nscrape " + std::to_string(++scrapes) + "\n"; });
    ASSERT_TRUE(server) << server.error().message;
    std::string address = (*server)->address();
    int port = std::stoi(address.substr(address.rfind(':') + 1));
    ASSERT_GT(port, 0);
    httplib::Client client("127.0.0.1", port);
    auto first = client.Get("/metrics");
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, 200);
    EXPECT_EQ(first->body, "domus_up 1\nscrape 1\n");
    EXPECT_NE(first->get_header_value("Content-Type").find("version=0.0.4"), std::string::npos);
    auto second = client.Get("/metrics");
    ASSERT_TRUE(second);
    EXPECT_EQ(second->body, "domus_up 1\nscrape 2\n");
    auto other = client.Get("/");
    ASSERT_TRUE(other);
    EXPECT_EQ(other->status, 404);

    // The same port again: refused at start, with the address in the reason.
    auto twice = MetricsServer::start({"127.0.0.1", port}, [] { return std::string(); });
    ASSERT_FALSE(twice);
    EXPECT_NE(twice.error().message.find(std::to_string(port)), std::string::npos);
}

}  // namespace
}  // namespace domus::toolstack
