// What every benchmark prints: one line per figure, `name value unit`, and the FILTER
// (the command line's first argument) that chooses which figures are measured.
#pragma once

#include <cstdio>
#include <string>

namespace domus::bench {

// The singleton FILTER of this benchmark process (empty: every figure).
inline std::string& figure_filter() {
    static std::string filter;
    return filter;
}

inline bool wanted(const std::string& name) {
    return figure_filter().empty() || name.find(figure_filter()) != std::string::npos;
}

// Whether any figure whose name starts with `prefix` is wanted (FILTER may name one).
inline bool group_wanted(const std::string& prefix) {
    return wanted(prefix) || figure_filter().starts_with(prefix);
}

inline void emit(const std::string& name, double value, const char* unit) {
    if (wanted(name)) std::printf("%s %.3f %s\n", name.c_str(), value, unit), std::fflush(stdout);
}

}  // namespace domus::bench
