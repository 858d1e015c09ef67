// The xl.cfg semantic pass: the keys a PV domain understands, read from the syntax pass's
// settings with xl's defaults and Domus's limits, into a DomainSpec.
//
// Every error names the file, the line where the offending key starts and the key:
//   idle.cfg:4: memory: expected a number, got "lots"
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "toolstack/xl_syntax.hpp"

namespace domus::toolstack {

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

struct DomainSpec;
// The CPULIST vCPU `vcpu` is pinned to by a spec's cpus ("all" when unpinned).
std::string vcpu_cpus(const DomainSpec& spec, std::uint32_t vcpu);

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
    std::vector<std::string> disk;     // DISKSPEC strings, not interpreted yet
    std::vector<std::string> vif;      // VIFSPEC strings, not interpreted yet
    std::vector<std::string> channel;  // CHANNEL_SPEC_STRINGs, checked by channel_spec
    // The credit scheduler's (docs/scheduling.md): weight 1..65535 (relative), cap in
    // percent of one CPU, 0..100 x maxvcpus (0: none).
    std::uint32_t weight = 256;
    std::uint32_t cap = 0;
    // cpus=: the host CPUs the vCPUs may run on, in xl's CPULIST syntax (cpu_list.hpp).
    // Empty: unpinned. One entry and !cpus_per_vcpu: for every vCPU (cpus = "0-1"). A
    // list (cpus = ["0", "1"]): vCPU i gets entry i; vCPUs past the list are unpinned.
    std::vector<std::string> cpus;
    bool cpus_per_vcpu = false;
    std::map<std::string, Value> extra_keys;  // keys Domus does not know (warned about)

    bool operator==(const DomainSpec&) const = default;
};

struct ParsedConfig {
    DomainSpec spec;
    std::vector<std::string> warnings;  // e.g. unknown keys, each naming file and line
};

// The spec the settings describe; a key given twice takes its last value, as in xl.
// `file` names the file in messages about a missing key.
Result<ParsedConfig> build_domain_spec(const std::vector<xl::Setting>& settings,
                                       std::string_view file);

// Appends an override as xl does (a later key wins). cmdline and extra are one setting
// under two names, so overriding either replaces both.
void merge_override(std::vector<xl::Setting>& settings, xl::Setting override);

}  // namespace domus::toolstack
