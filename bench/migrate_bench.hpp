// Save, restore and migration (bench/run migrate): downtime, total time, rounds, MiB/s.
#pragma once

#include <string>

namespace domus::bench {

// Runs in a network namespace of its own (the process enters it).
void bench_migrate(const std::string& bin, const std::string& guests);

}  // namespace domus::bench
