// The command line: kept as given, and split into argc/argv for main() (space-separated
// words, double quotes group words; argv[0] is "domus").
#pragma once

#include <stddef.h>

namespace domus::guest {

void init_cmdline();
int cmdline_argc();
char** cmdline_argv();
const char* cmdline();
const char* cmdline_get(const char* key, char* buf, size_t size);

} // namespace domus::guest
