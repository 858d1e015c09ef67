// ProgressTrack and MigrationProgress: rates from consecutive events, what events leave
// out carried over, and running operations kept for `list`/`info` only while they run.
#include "toolstack/migration_progress.hpp"

#include <gtest/gtest.h>

namespace domus::toolstack {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

TEST(ProgressTrack, RateIsTheBytesBetweenTwoEventsOverTheTimeBetweenThem) {
    ProgressTrack track;
    track.add({{"phase", "preparing"}}, 0);
    auto first = track.add({{"phase", "copying"}, {"bytes", 10 * kMiB}}, 1000);
    EXPECT_DOUBLE_EQ(first["mib_per_s"].get<double>(), 10.0);
    auto second = track.add({{"phase", "copying"}, {"bytes", 40 * kMiB}}, 1500);
    EXPECT_DOUBLE_EQ(second["mib_per_s"].get<double>(), 60.0);
    EXPECT_EQ(second["bytes"], 40 * kMiB);
    EXPECT_EQ(second["elapsed_ms"], 1500u);
    EXPECT_EQ(second["event"], "progress");
}

TEST(ProgressTrack, DirtyRateIsTheRoundsDirtyFramesOverTheRoundsTime) {
    ProgressTrack track;
    track.add({{"phase", "preparing"}}, 0);
    // Round 1 ends after 2 s with 512 frames (2 MiB) dirtied: 1 MiB/s.
    auto first = track.add({{"phase", "live"},
                            {"bytes", 64 * kMiB},
                            {"round", 1},
                            {"dirty", 512},
                            {"expected_downtime_ms", 40}},
                           2000);
    EXPECT_DOUBLE_EQ(first["dirty_mib_per_s"].get<double>(), 1.0);
    // Copying in between says neither: the round's figures stay.
    auto copying = track.add({{"phase", "copying"}, {"bytes", 65 * kMiB}, {"round", 1}}, 2200);
    EXPECT_DOUBLE_EQ(copying["dirty_mib_per_s"].get<double>(), 1.0);
    EXPECT_EQ(copying["expected_downtime_ms"], 40u);
    // Round 2 ends 500 ms after round 1 with 256 frames (1 MiB): 2 MiB/s.
    auto second = track.add({{"phase", "live"},
                             {"bytes", 66 * kMiB},
                             {"round", 2},
                             {"dirty", 256},
                             {"expected_downtime_ms", 20}},
                            2500);
    EXPECT_DOUBLE_EQ(second["dirty_mib_per_s"].get<double>(), 2.0);
    EXPECT_EQ(second["expected_downtime_ms"], 20u);
}

TEST(ProgressTrack, APhaseOfItsOwnKeepsTheFiguresSoFar) {
    ProgressTrack track;
    track.add({{"operation", "migrate"}, {"domain", "sc"}, {"phase", "preparing"}}, 0);
    track.add({{"phase", "done"}, {"bytes", 8 * kMiB}, {"pages", 2048}, {"round", 3}}, 100);
    auto after = track.add({{"phase", "destination"}}, 200);
    EXPECT_EQ(after["phase"], "destination");
    EXPECT_EQ(after["bytes"], 8 * kMiB);
    EXPECT_EQ(after["pages"], 2048u);
    EXPECT_EQ(after["round"], 3u);
    EXPECT_EQ(after["operation"], "migrate");
    EXPECT_EQ(after["domain"], "sc");
    EXPECT_DOUBLE_EQ(after["mib_per_s"].get<double>(), 0.0) << "nothing sent meanwhile";
}

TEST(ProgressTrack, TwoEventsInTheSameMillisecondKeepTheLastRate) {
    ProgressTrack track;
    track.add({{"phase", "preparing"}}, 0);
    track.add({{"bytes", 2 * kMiB}}, 1000);
    auto same = track.add({{"bytes", 3 * kMiB}}, 1000);
    EXPECT_DOUBLE_EQ(same["mib_per_s"].get<double>(), 2.0);
}

TEST(MigrationProgress, AnOperationIsListedWhileItRunsAndNotAfter) {
    MigrationProgress progress;
    std::vector<nlohmann::json> sent;
    {
        auto operation =
            progress.begin("save", "sc", [&](const nlohmann::json& e) { sent.push_back(e); });
        EXPECT_EQ(progress.of("sc").value("phase", ""), "preparing");
        operation->report({{"phase", "copying"}, {"bytes", kMiB}});
        auto latest = progress.of("sc");
        EXPECT_EQ(latest.value("phase", ""), "copying");
        EXPECT_EQ(latest.value("operation", ""), "save");
        EXPECT_TRUE(progress.of("other").is_null());
        ASSERT_EQ(progress.running().size(), 1u);
        operation->phase("suspending");
    }
    EXPECT_TRUE(progress.of("sc").is_null());
    EXPECT_TRUE(progress.running().empty());
    ASSERT_EQ(sent.size(), 2u) << "the client gets what was reported, in order";
    EXPECT_EQ(sent[0].value("phase", ""), "copying");
    EXPECT_EQ(sent[1].value("phase", ""), "suspending");
    EXPECT_EQ(sent[1]["bytes"], kMiB);
}

TEST(MigrationProgress, ARestoreTakesItsDomainsNameOnceKnown) {
    MigrationProgress progress;
    auto operation = progress.begin("restore", "", {});
    operation->phase("checking");
    operation->set_domain("sc");
    EXPECT_EQ(progress.of("sc").value("phase", ""), "checking");
}

}  // namespace
}  // namespace domus::toolstack
