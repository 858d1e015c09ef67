// xl.cfg domain configuration files: parsed into a typed, validated DomainSpec, with the
// command-line `key=value` overrides of `domus create FILE.cfg k=v...`, and written back.
//
// Syntax (xl's, as in xl.cfg(5)): `key = value` settings ended by a newline or `;`;
// `#` starts a comment; a value is a number (decimal, 0x hex, 0 octal), a "double" or
// 'single' quoted string (escapes \\ \" \' \a \b \f \n \r \t \v \xHH \ooo, no newlines),
// or a `[ list, of, values ]` that may span lines, nest, and end with a trailing comma.
// Overrides use the same syntax, and there a bare word (`name=web1`) is a string.
//
// Every error names the file, the line where the offending key starts and the key:
//   idle.cfg:4: memory: expected a number, got "lots"
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.hpp"

namespace domus::toolstack {

// One configuration value as written. Numbers are kept as int64 (negative numbers do not
// exist in the syntax); lists are heterogeneous and may nest.
struct Value {
    std::variant<std::int64_t, std::string, std::vector<Value>> data;
    int line = 0;  // where the value starts in its file; 0 for command-line overrides

    // Equality compares the data only: the same value read from another line is equal.
    bool operator==(const Value& other) const { return data == other.data; }
};

// What the toolstack does when the guest stops for a given reason (xl's `on_*` keys).
enum class Action {
    Destroy,
    Restart,
    Preserve,
    RenameRestart,
    CoredumpDestroy,
    CoredumpRestart,
    SoftReset,
};

// xl's spelling of an action: "destroy", "rename-restart", ...
std::string_view action_name(Action action);

// A PV domain as the config file describes it, after defaults and validation.
struct DomainSpec {
    std::string name;                 // 1..64 of [A-Za-z0-9_.-], not all digits
    std::uint32_t memory_mib = 32;    // 4..65536
    std::uint32_t maxmem_mib = 32;    // memory..65536; defaults to memory
    std::uint32_t vcpus = 1;          // 1..64
    std::uint32_t maxvcpus = 1;       // vcpus..64; defaults to vcpus
    std::string kernel;               // as written; see resolve_kernel_path
    std::string cmdline;              // `cmdline` or `extra`, then " root=<root>" if given
    std::optional<std::string> uuid;  // 8-4-4-4-12 hex digits, as written
    Action on_poweroff = Action::Destroy;
    Action on_reboot = Action::Restart;
    Action on_crash = Action::Destroy;
    Action on_watchdog = Action::Destroy;
    std::vector<std::string> disk;            // DISKSPEC strings, not interpreted yet
    std::vector<std::string> vif;             // VIFSPEC strings, not interpreted yet
    std::vector<std::string> channel;         // CHANNEL_SPEC_STRINGs, checked by channel_spec
    std::map<std::string, Value> extra_keys;  // keys Domus does not know (warned about)

    bool operator==(const DomainSpec&) const = default;
};

struct ParsedConfig {
    DomainSpec spec;
    std::vector<std::string> warnings;  // e.g. unknown keys, each naming file and line
};

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

// The spec in xl syntax, every key written out; parse_xl_config of the result equals `spec`.
std::string to_xl_config(const DomainSpec& spec);

}  // namespace domus::toolstack
