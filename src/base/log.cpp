// Logger implementation: formatting, escaping and rate limiting.
#include "base/log.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/result.hpp"

namespace domus {

Error errno_error(std::string what, int err) {
    return Error{fmt::format("{}: {}", what, std::strerror(err)), err};
}

Error errno_error(std::string what) {
    return errno_error(std::move(what), errno);
}

}  // namespace domus

namespace domus::log {

Config& Config::instance() {
    static Config config;
    return config;
}

void write(Level level, std::string_view component, std::string_view message) {
    static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
    int dom = Config::instance().domain_id.load(std::memory_order_relaxed);
    std::string line =
        dom >= 0 ? fmt::format("{}[dom{}] {}: {}\n", component, dom, kNames[int(level)], message)
                 : fmt::format("{}: {}: {}\n", component, kNames[int(level)], message);
    // One write(2) per line keeps lines from different threads whole.
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

bool RateLimit::allow() noexcept {
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
                   .count();
    auto window = window_.load(std::memory_order_relaxed);
    if (window != now && window_.compare_exchange_strong(window, now)) used_.store(0);
    if (used_.fetch_add(1) < burst_) return true;
    suppressed_.fetch_add(1);
    return false;
}

std::string escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        // Newlines too: a guest string must not end a log line and forge the next.
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out.push_back(char(c));
        } else {
            out += fmt::format("\\x{:02x}", c);
        }
    }
    return out;
}

}  // namespace domus::log
