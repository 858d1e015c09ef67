// Tests for toolstack/cpu_list: xl's CPULIST forms, exclusions, errors, and the
// shortest form written back.
#include "toolstack/cpu_list.hpp"

#include <gtest/gtest.h>

namespace domus::toolstack {
namespace {

std::vector<unsigned> cpus(std::string_view text, unsigned nr_cpus = 8) {
    auto parsed = parse_cpu_list(text, nr_cpus);
    EXPECT_TRUE(parsed) << text << ": " << (parsed ? "" : parsed.error().message);
    return parsed ? *parsed : std::vector<unsigned>{};
}

std::string error_of(std::string_view text, unsigned nr_cpus = 8) {
    auto parsed = parse_cpu_list(text, nr_cpus);
    EXPECT_FALSE(parsed) << text;
    return parsed ? "" : parsed.error().message;
}

using List = std::vector<unsigned>;

TEST(CpuList, XlsForms) {
    EXPECT_EQ(cpus("all", 4), (List{0, 1, 2, 3}));
    EXPECT_EQ(cpus("2"), (List{2}));
    EXPECT_EQ(cpus("0-1"), (List{0, 1}));
    EXPECT_EQ(cpus("0,1"), (List{0, 1}));
    EXPECT_EQ(cpus("5, 1-2"), (List{1, 2, 5}));
    EXPECT_EQ(cpus("0-3,^1"), (List{0, 2, 3}));
    EXPECT_EQ(cpus("^1", 4), (List{0, 2, 3}));  // a leading removal starts from all
    EXPECT_EQ(cpus("^0-1,3", 4), (List{2, 3}));
    EXPECT_EQ(cpus("all,^7"), (List{0, 1, 2, 3, 4, 5, 6}));
}

TEST(CpuList, ErrorsNameTheCause) {
    EXPECT_EQ(error_of("99"), "\"99\": CPU 99 does not exist (the host has CPUs 0-7)");
    EXPECT_EQ(error_of("0-8"), "\"0-8\": CPU 8 does not exist (the host has CPUs 0-7)");
    EXPECT_EQ(error_of("3-1"), "\"3-1\": range 3-1 is backwards");
    EXPECT_EQ(error_of(""), "\"\": empty item");
    EXPECT_EQ(error_of("1,,2"), "\"1,,2\": empty item");
    EXPECT_EQ(error_of("one"), "\"one\": \"one\" is not a CPU number");
    EXPECT_EQ(error_of("-1"), "\"-1\": \"\" is not a CPU number");
    EXPECT_EQ(error_of("1x"), "\"1x\": \"1x\" is not a CPU number");
    EXPECT_EQ(error_of("0,^0"), "\"0,^0\" selects no CPU");
    EXPECT_EQ(error_of("nodes:0"), "\"nodes:0\": NUMA node lists are not supported");
}

TEST(CpuList, WrittenBackInTheShortestForm) {
    EXPECT_EQ(format_cpu_list({0, 1, 2, 3}, 4), "all");
    EXPECT_EQ(format_cpu_list({0, 1, 2, 5, 7}, 8), "0-2,5,7");
    EXPECT_EQ(format_cpu_list({3}, 8), "3");
    EXPECT_EQ(cpus(format_cpu_list(cpus("0-3,^1,6-7"), 8)), cpus("0,2-3,6-7"));
}

TEST(CpuList, TheHostHasAtLeastOneCpu) {
    EXPECT_GE(host_cpu_count(), 1u);
    EXPECT_EQ(cpus("0", host_cpu_count()), (List{0}));
}

}  // namespace
}  // namespace domus::toolstack
