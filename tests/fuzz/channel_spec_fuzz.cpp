// Fuzz harness for config/channel_spec: any text as a domain's channel list (specs split
// at newlines); what parses must write back to strings that parse to the same specs.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/channel_spec.hpp"
#include "fuzz_input.hpp"

using namespace domus::config;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> texts;
    for (std::size_t start = 0; start <= text.size();) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        texts.emplace_back(text.substr(start, end - start));
        start = end + 1;
    }
    for (const std::string& one : texts) {
        auto spec = parse_channel_spec(one);
        if (!spec) continue;
        auto again = parse_channel_spec(to_channel_spec(*spec));
        DOMUS_FUZZ_CHECK(again.ok());
        DOMUS_FUZZ_CHECK(*again == *spec);
    }
    (void)parse_channel_specs(texts);
    return 0;
}
