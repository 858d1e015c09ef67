// Test helper: xl.cfg Values in one call each (str("a"), num(3), list({...})), for the
// tests of the syntax pass and of the whole parser.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "toolstack/xl_syntax.hpp"

namespace domus::toolstack {

inline Value str(std::string s) {
    return Value{.data = std::move(s)};
}
inline Value num(std::int64_t n) {
    return Value{.data = n};
}
inline Value list(std::vector<Value> items) {
    return Value{.data = std::move(items)};
}

}  // namespace domus::toolstack
