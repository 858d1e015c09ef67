// xl.cfg domain configuration files: parsed into a typed, validated DomainSpec, with the
// command-line `key=value` overrides of `domus create FILE.cfg k=v...`, and written back.
// Three passes behind this facade: xl_syntax (text to settings), xl_semantics (settings
// to a DomainSpec) and xl_writer (a DomainSpec back to text).
//
// Every error names the file, the line where the offending key starts and the key:
//   idle.cfg:4: memory: expected a number, got "lots"
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "toolstack/xl_semantics.hpp"
#include "toolstack/xl_syntax.hpp"
#include "toolstack/xl_writer.hpp"

namespace domus::toolstack {

// Parses and validates the text of an xl.cfg file. `file_name` only labels messages.
// A key given twice takes its last value, as in xl.
Result<ParsedConfig> parse_xl_config(std::string_view text, std::string_view file_name);

// Applies one `key=value` override (same value syntax, bare words are strings) to a spec
// and re-validates it. A maxmem equal to memory (or maxvcpus equal to vcpus) follows an
// override of memory (vcpus), as the default would. Unknown keys land in extra_keys;
// their warnings are not reported here.
Result<void> apply_override(DomainSpec& spec, std::string_view key_equals_value);

// Reads the file at `path`, then applies `overrides` in order as if they were appended to
// the file (so `memory=128` also raises a defaulted maxmem). Errors and warnings name `path`.
Result<ParsedConfig> load_xl_config(const std::string& path,
                                    const std::vector<std::string>& overrides);

// Domus convenience, not xl behaviour (xl passes `kernel` to the builder as written): a
// relative kernel path joined to the config file's directory. Absolute paths are returned
// unchanged.
std::string resolve_kernel_path(const DomainSpec& spec, const std::string& config_dir);

}  // namespace domus::toolstack
