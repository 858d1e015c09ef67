// Fuzz harness for the VIFSPEC parser (config/vif_spec): any text is parsed or refused,
// and what parses is written back to a string that parses to the same interface.
#include <cstddef>
#include <cstdint>

#include "config/vif_spec.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto spec = domus::config::parse_vif_spec(text);
    if (!spec) return 0;
    auto again = domus::config::parse_vif_spec(domus::config::to_vif_spec(*spec));
    DOMUS_FUZZ_CHECK(again);
    DOMUS_FUZZ_CHECK(*again == *spec);
    return 0;
}
