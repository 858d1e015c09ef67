// Parsing xl's rate strings (see rate_spec.hpp).
#include "config/rate_spec.hpp"

#include <charconv>

namespace domus::config {
namespace {

// Leading digits of `text` as a number, the rest in `rest`; false when none or too big.
bool leading_number(std::string_view text, std::uint64_t& value, std::string_view& rest) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end == text.data()) return false;
    rest = text.substr(std::size_t(end - text.data()));
    return true;
}

}  // namespace

Result<VifRate> parse_vif_rate(std::string_view text) {
    auto at = text.find('@');
    std::string_view rate = text.substr(0, at);
    std::uint64_t amount = 0;
    std::string_view unit;
    if (!leading_number(rate, amount, unit) || amount == 0)
        return make_error("\"{}\" is not RATE/s[@INTERVAL] with a RATE above 0 (10Mb/s@20ms)",
                          text);
    struct Unit {
        std::string_view name;
        std::uint64_t bits;  // per unit
    };
    std::uint64_t bits = 0;
    // Decimal, as xl reads them (10Mb/s is 10,000,000 bits a second).
    for (const Unit& u : {Unit{"GB/s", 8'000'000'000}, Unit{"MB/s", 8'000'000}, Unit{"KB/s", 8'000},
                          Unit{"B/s", 8}, Unit{"Gb/s", 1'000'000'000}, Unit{"Mb/s", 1'000'000},
                          Unit{"Kb/s", 1'000}, Unit{"b/s", 1}})
        if (unit == u.name) bits = u.bits;
    if (bits == 0)
        return make_error(
            "\"{}\": the rate's unit is not one of GB/s MB/s KB/s B/s Gb/s Mb/s "
            "Kb/s b/s",
            text);
    if (amount > (std::uint64_t(1) << 40) / bits * 8)
        return make_error("\"{}\": the rate is too large", text);
    std::uint64_t bytes_per_second = amount * bits / 8;
    VifRate result;
    if (at != std::string_view::npos) {
        std::uint64_t interval = 0;
        std::string_view suffix;
        if (!leading_number(text.substr(at + 1), interval, suffix) || interval == 0)
            return make_error("\"{}\": the interval is not a number above 0 with us, ms or s",
                              text);
        std::uint64_t scale = suffix == "us"   ? 1
                              : suffix == "ms" ? 1000
                              : suffix == "s"  ? 1000000
                                               : 0;
        if (scale == 0 || interval > 1'000'000 / scale)
            return make_error("\"{}\": the interval is not 1us..1s (us, ms or s)", text);
        result.interval_us = std::uint32_t(interval * scale);
    }
    result.bytes_per_interval = bytes_per_second * result.interval_us / 1'000'000;
    if (result.bytes_per_interval == 0)
        return make_error("\"{}\": less than a byte per interval", text);
    return result;
}

std::string format_vif_rate(const VifRate& rate) {
    // Rounded up, so that parsing it gives bytes_per_interval back (parsing rounds down).
    std::uint64_t per_second =
        (rate.bytes_per_interval * 1'000'000 + rate.interval_us - 1) / rate.interval_us;
    return std::to_string(per_second) + "B/s@" + std::to_string(rate.interval_us) + "us";
}

Result<std::uint64_t> parse_scaled_number(std::string_view text) {
    std::uint64_t value = 0;
    std::string_view suffix;
    if (!leading_number(text, value, suffix))
        return make_error("\"{}\" is not a number (with K, M or G)", text);
    std::uint64_t scale = suffix.empty()  ? 1
                          : suffix == "K" ? 1ull << 10
                          : suffix == "M" ? 1ull << 20
                          : suffix == "G" ? 1ull << 30
                                          : 0;
    if (scale == 0) return make_error("\"{}\" is not a number (with K, M or G)", text);
    if (value > (std::uint64_t(1) << 50) / scale) return make_error("\"{}\" is too large", text);
    return value * scale;
}

}  // namespace domus::config
