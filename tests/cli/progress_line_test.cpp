// progress_line and ProgressOutput: the text of the terminal's line and of `list`/`info`,
// and what each output mode writes (nothing at all when not asked and not a terminal).
#include "cli/progress_line.hpp"

#include <gtest/gtest.h>

#include <cstdio>

namespace domus::cli {
namespace {

TEST(ProgressLine, SaysPhaseRoundBytesRatesAndExpectedDowntime) {
    nlohmann::json event = {{"operation", "migrate"},
                            {"domain", "sc"},
                            {"phase", "live"},
                            {"round", 3},
                            {"bytes", std::uint64_t(120) * 1024 * 1024 + 512 * 1024},
                            {"mib_per_s", 98.24},
                            {"dirty_mib_per_s", 12.0},
                            {"expected_downtime_ms", 40}};
    EXPECT_EQ(progress_line(event),
              "migrate sc: live round 3, 120.5 MiB sent, 98.2 MiB/s, dirty 12.0 MiB/s, "
              "expected downtime 40 ms");
}

TEST(ProgressLine, LeavesOutWhatTheEventDoesNotSay) {
    EXPECT_EQ(progress_line({{"phase", "checking"}}), "checking");
    EXPECT_EQ(progress_line({{"operation", "restore"}, {"phase", "loading"}}), "restore: loading");
    EXPECT_EQ(progress_line({{"phase", "live"}, {"round", 2}, {"throttle", 30}}),
              "live round 2, throttled 30%");
    EXPECT_EQ(progress_line(nlohmann::json::object()), "working");
    EXPECT_EQ(progress_line({{"phase", "disks"}, {"disk_bytes", 3 << 20}}),
              "disks, 3.0 MiB of disk data sent");
}

TEST(ProgressLine, IgnoresFieldsOfTheWrongType) {
    EXPECT_EQ(progress_line({{"phase", 7}, {"bytes", "many"}, {"round", -1}}), "working");
}

std::string written(std::FILE* file) {
    std::fflush(file);
    std::rewind(file);
    std::string text;
    for (int c; (c = std::fgetc(file)) != EOF;)
        text += char(c);
    return text;
}

TEST(ProgressOutput, TerminalRewritesOneLineAndClearsItAtTheEnd) {
    std::FILE* file = std::tmpfile();
    ProgressOutput output(ProgressOutput::Mode::terminal, file);
    auto handler = output.handler();
    ASSERT_TRUE(handler);
    handler({{"phase", "copying"}});
    handler({{"phase", "done"}});
    output.finish();
    EXPECT_EQ(written(file), "\r\033[Kcopying\r\033[Kdone\r\033[K");
    std::fclose(file);
}

TEST(ProgressOutput, JsonPrintsOneObjectPerLine) {
    std::FILE* file = std::tmpfile();
    ProgressOutput output(ProgressOutput::Mode::json, file);
    output.handler()({{"event", "progress"}, {"phase", "copying"}});
    output.finish();
    output.show(done_event({{"ok", true}, {"bytes", 5}}));
    EXPECT_EQ(written(file),
              "{\"event\":\"progress\",\"phase\":\"copying\"}\n{\"bytes\":5,\"event\":\"done\"}\n");
    std::fclose(file);
}

TEST(ProgressOutput, NotATerminalAndNoJsonAsksForNothing) {
    std::FILE* file = std::tmpfile();  // a file is no terminal
    auto output = ProgressOutput::choose(false, file);
    EXPECT_EQ(output.mode(), ProgressOutput::Mode::none);
    EXPECT_FALSE(output.handler()) << "the request then asks for no events";
    output.finish();
    EXPECT_EQ(written(file), "");
    EXPECT_EQ(ProgressOutput::choose(true, file).mode(), ProgressOutput::Mode::json);
    std::fclose(file);
}

}  // namespace
}  // namespace domus::cli
