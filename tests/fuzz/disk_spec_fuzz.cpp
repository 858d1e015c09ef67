// Fuzz harness for config/disk_spec: any text as a DISKSPEC; what parses must write back
// to a string that parses to the same spec.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/disk_spec.hpp"
#include "fuzz_input.hpp"

using namespace domus::config;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)vbd_number(text);
    auto spec = parse_disk_spec(text);
    if (!spec) return 0;
    auto again = parse_disk_spec(to_disk_spec(*spec));
    DOMUS_FUZZ_CHECK(again.ok());
    DOMUS_FUZZ_CHECK(*again == *spec);
    return 0;
}
