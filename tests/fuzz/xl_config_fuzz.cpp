// Fuzz harness for the xl.cfg passes (toolstack/xl_syntax, xl_semantics, xl_writer): any
// text as a config file, then its disk and channel strings through their parsers; an
// accepted config must write back to text that parses to the same spec.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/channel_spec.hpp"
#include "config/disk_spec.hpp"
#include "fuzz_input.hpp"
#include "toolstack/xl_config.hpp"

using namespace domus;
using namespace domus::toolstack;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    // A NUL splits the input: the file before it, a command-line override after it.
    std::string_view text = input.substr(0, input.find('\0'));
    std::string_view override_text;
    if (text.size() < input.size()) override_text = input.substr(text.size() + 1);

    (void)xl::parse_override_settings(text, "fuzz");
    auto parsed = parse_xl_config(text, "fuzz.cfg");
    if (!parsed) return 0;
    DomainSpec& spec = parsed->spec;
    for (const auto& disk : spec.disk)
        (void)config::parse_disk_spec(disk);
    (void)config::parse_channel_specs(spec.channel);

    auto again = parse_xl_config(to_xl_config(spec), "again.cfg");
    DOMUS_FUZZ_CHECK(again.ok());
    DOMUS_FUZZ_CHECK(again->spec == spec);
    if (!override_text.empty()) (void)apply_override(spec, override_text);
    return 0;
}
