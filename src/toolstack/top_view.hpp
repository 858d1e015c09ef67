// `domus top`'s screen, as xentop draws it: a summary of the host and one row per domain
// with xentop's columns. Pure (snapshots in, lines out), so the CLI only does the
// terminal and the tests check the figures.
#pragma once

#include <string>
#include <vector>

#include "toolstack/domain_stats.hpp"

namespace domus::toolstack {

// The column header line.
std::string top_header();

// One line per domain of `now`. CPU(%) is over the `seconds` since `before` for domains
// present in both; otherwise (first frame, new domain) the average over the domain's life.
std::vector<std::string> top_rows(const StatsSnapshot& now, const StatsSnapshot* before,
                                  double seconds);

// xentop's two summary lines: domains by state, then host memory and CPUs.
std::vector<std::string> top_summary(const StatsSnapshot& now);

}  // namespace domus::toolstack
