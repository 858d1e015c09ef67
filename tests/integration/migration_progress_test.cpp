// Progress of save, restore and migration end to end (docs/migration.md "Progress"):
// --json prints the events in order and then the result; `domus list` and `info` show a
// running migration's latest progress (slowed down with --rate) and nothing once it
// ended; without a terminal and without --json the output is what it always was.
#include <gtest/gtest.h>

#include <future>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "two_hosts_fixture.hpp"

namespace domus::test {
namespace {

class MigrationProgressTest : public TwoHostsTest {
protected:
    // The counting guest (it offers suspend), running and counting.
    void start_counter(const std::string& extra = "") {
        auto created = domus(
            {"create", config("sc", "name = \"sc\"\nkernel = \"" + guest_image("save_counter") +
                                        "\"\nmemory = 96\n" + extra)});
        ASSERT_EQ(created.status, 0) << created.err;
        ASSERT_TRUE(eventually([&] { return counted(run_dir_) > 3; }, std::chrono::seconds(30)));
    }

    // The guest's count in run dir `dir` (-1: no such domain or no count yet).
    long long counted(const std::string& dir) {
        std::string status = read_at(dir, "sc", "data/counter/status");
        std::smatch m;
        static const std::regex re(R"(count=(\d+))");
        return std::regex_search(status, m, re) ? std::stoll(m[1]) : -1;
    }

    // Every line of `text` as JSON (a line that is not: a failure).
    static std::vector<nlohmann::json> events(const std::string& text) {
        std::vector<nlohmann::json> out;
        std::istringstream lines(text);
        for (std::string line; std::getline(lines, line);) {
            auto event = nlohmann::json::parse(line, nullptr, false);
            EXPECT_TRUE(event.is_object()) << "not a JSON line: " << line;
            if (event.is_object()) out.push_back(event);
        }
        return out;
    }

    // Progress events, then one result: bytes and time never go back; the phases seen.
    static std::vector<std::string> check_ordered(const std::vector<nlohmann::json>& all,
                                                  const std::string& operation) {
        std::vector<std::string> phases;
        EXPECT_GE(all.size(), 2u);
        if (all.empty()) return phases;
        EXPECT_EQ(all.back().value("event", ""), "done") << all.back().dump();
        std::uint64_t bytes = 0, elapsed = 0;
        for (std::size_t i = 0; i + 1 < all.size(); ++i) {
            const auto& event = all[i];
            EXPECT_EQ(event.value("event", ""), "progress") << event.dump();
            EXPECT_EQ(event.value("operation", ""), operation) << event.dump();
            // A restore learns the domain's name from the image it checks.
            if (operation != "restore" || event.value("phase", "") != "checking") {
                EXPECT_EQ(event.value("domain", ""), "sc") << event.dump();
            }
            EXPECT_GE(event.value("bytes", std::uint64_t(0)), bytes) << event.dump();
            EXPECT_GE(event.value("elapsed_ms", std::uint64_t(0)), elapsed) << event.dump();
            for (const char* field :
                 {"phase", "round", "mib_per_s", "dirty_mib_per_s", "expected_downtime_ms"})
                EXPECT_TRUE(event.contains(field)) << field << " in " << event.dump();
            bytes = event.value("bytes", std::uint64_t(0));
            elapsed = event.value("elapsed_ms", std::uint64_t(0));
            phases.push_back(event.value("phase", ""));
        }
        return phases;
    }

    static bool in_order(const std::vector<std::string>& phases,
                         const std::vector<std::string>& wanted) {
        std::size_t at = 0;
        for (const auto& phase : phases)
            if (at < wanted.size() && phase == wanted[at]) ++at;
        return at == wanted.size();
    }

    static std::string joined(const std::vector<std::string>& phases) {
        std::string text;
        for (const auto& phase : phases)
            text += phase + " ";
        return text;
    }
};

TEST_F(MigrationProgressTest, JsonPrintsOrderedProgressEventsThenTheResult) {
    start_counter();
    auto moved = domus({"migrate", "--json", "--rate", "8", "-s", "", "sc", second_->transport()});
    ASSERT_EQ(moved.status, 0) << moved.err << moved.out;
    auto all = events(moved.out);
    auto phases = check_ordered(all, "migrate");
    EXPECT_TRUE(
        in_order(phases, {"live", "suspending", "memory", "vcpus", "done", "destination",
                          "destination-building", "destination-receiving", "destination-starting"}))
        << joined(phases);
    ASSERT_GE(all.size(), 2u);
    EXPECT_GT(all[all.size() - 2].value("bytes", std::uint64_t(0)),
              all.front().value("bytes", std::uint64_t(0)))
        << "bytes grow";
    EXPECT_EQ(all.back().value("mode", ""), "live");
    EXPECT_GE(all.back().value("rounds", 0), 1);
    ASSERT_TRUE(eventually([&] { return counted(second_->dir()) > 0; }, std::chrono::seconds(30)));

    // Save there, then restore there: their phases, and each result last.
    std::string file = second_->dir() + "/sc.img";
    auto saved = second_->domus({"save", "--json", "sc", file});
    ASSERT_EQ(saved.status, 0) << saved.err << saved.out;
    auto save_events = events(saved.out);
    phases = check_ordered(save_events, "save");
    EXPECT_TRUE(in_order(phases, {"suspending", "memory", "vcpus", "done"})) << joined(phases);
    ASSERT_GE(save_events.size(), 2u);
    EXPECT_EQ(save_events.back().value("bytes", std::uint64_t(1)),
              save_events[save_events.size() - 2].value("bytes", std::uint64_t(0)))
        << "the last event counted every byte of the image";

    auto restored = second_->domus({"restore", "--json", file});
    ASSERT_EQ(restored.status, 0) << restored.err << restored.out;
    phases = check_ordered(events(restored.out), "restore");
    EXPECT_TRUE(in_order(phases, {"checking", "loading", "starting"})) << joined(phases);
}

TEST_F(MigrationProgressTest, ListAndInfoShowARunningMigrationAndNothingAfterIt) {
    // The guest dirties 2 MiB/s of its memory: at 1 MB/s the rounds grow, to seconds
    // (three rounds at most: several seconds in all).
    start_counter("extra = \"dirty_mb=2\"\n");
    auto migration = std::async(std::launch::async, [&] {
        return domus(
            {"migrate", "--rate", "1", "--max-rounds", "3", "-s", "", "sc", second_->transport()},
            std::chrono::seconds(170));
    });
    nlohmann::json seen;
    bool shown = eventually(
        [&] {
            auto listed = domus({"list", "--json"});
            auto rows = nlohmann::json::parse(listed.out, nullptr, false);
            if (!rows.is_array()) return false;
            for (const auto& row : rows)
                if (row.value("name", "") == "sc" && row.contains("progress") &&
                    row["progress"].value("bytes", std::uint64_t(0)) > 0) {
                    seen = row["progress"];
                    return true;
                }
            return false;
        },
        std::chrono::seconds(30));
    ASSERT_TRUE(shown) << "a running migration shows in domus list";
    EXPECT_EQ(seen.value("operation", ""), "migrate") << seen.dump();
    for (const char* field :
         {"phase", "round", "bytes", "mib_per_s", "dirty_mib_per_s", "expected_downtime_ms"})
        EXPECT_TRUE(seen.contains(field)) << field << " in " << seen.dump();
    // The same in the text forms, while it runs.
    auto text = domus({"list"});
    auto info = domus({"info"});
    ASSERT_NE(migration.wait_for(std::chrono::seconds(0)), std::future_status::ready)
        << "the migration should still run (1 MB/s)";
    EXPECT_NE(text.out.find("migrate sc: "), std::string::npos) << text.out;
    EXPECT_NE(info.out.find("migrate sc: "), std::string::npos) << info.out;
    std::printf("while it ran:\n%s%s", text.out.c_str(), info.out.c_str());

    auto moved = migration.get();
    ASSERT_EQ(moved.status, 0) << moved.err << moved.out;
    // Not a terminal, no --json: the one result line of old.
    EXPECT_TRUE(std::regex_match(
        moved.out,
        std::regex(
            R"(Migrated sc \(live\): [0-9.]+ MiB in \d+ ms, \d+ rounds, downtime \d+ ms\n)")))
        << moved.out;
    EXPECT_EQ(moved.out.find('\r'), std::string::npos);

    // Over: no progress here (the domain left) nor there.
    auto here = domus({"info"});
    EXPECT_EQ(here.out.find("operation"), std::string::npos) << here.out;
    auto there = second_->domus({"list", "--json"});
    auto rows = nlohmann::json::parse(there.out, nullptr, false);
    ASSERT_TRUE(rows.is_array()) << there.out;
    for (const auto& row : rows)
        EXPECT_FALSE(row.contains("progress")) << row.dump();
    EXPECT_EQ(second_->domus({"list"}).out.find("migrate sc"), std::string::npos);
    EXPECT_EQ(second_->domus({"info"}).out.find("operation"), std::string::npos);
}

TEST_F(MigrationProgressTest, WithoutATerminalSaveAndRestorePrintTheirOneLineAsBefore) {
    start_counter();
    std::string file = run_dir_ + "/sc.img";
    auto saved = domus({"save", "-c", "sc", file});
    ASSERT_EQ(saved.status, 0) << saved.err;
    EXPECT_TRUE(std::regex_match(
        saved.out,
        std::regex(
            R"(Saved sc: [0-9.]+ MiB \(\d+ pages, \d+ zero pages skipped\) in \d+ ms \(\d+ MiB/s\)\n)")))
        << saved.out;
    // -c: it goes on here, with no progress left behind.
    auto rows = nlohmann::json::parse(domus({"list", "--json"}).out, nullptr, false);
    ASSERT_TRUE(rows.is_array());
    for (const auto& row : rows)
        EXPECT_FALSE(row.contains("progress")) << row.dump();
    ASSERT_EQ(domus({"destroy", "sc"}).status, 0);
    auto restored = domus({"restore", file});
    ASSERT_EQ(restored.status, 0) << restored.err;
    EXPECT_TRUE(
        std::regex_match(restored.out, std::regex(R"(Restored domain sc \(id \d+\) in \d+ ms\n)")))
        << restored.out;
}

}  // namespace
}  // namespace domus::test
