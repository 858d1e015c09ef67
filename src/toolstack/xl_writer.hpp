// The xl.cfg writer: a DomainSpec in xl syntax, so that records and overrides can go
// back through the same parser.
#pragma once

#include <string>

#include "toolstack/xl_semantics.hpp"

namespace domus::toolstack {

// The spec in xl syntax, every key written out; parse_xl_config of the result equals `spec`.
std::string to_xl_config(const DomainSpec& spec);

}  // namespace domus::toolstack
