// One logger for host code: "component[domN] message" lines on stderr, by level.
// Guest-caused warnings go through RateLimit so a hostile guest cannot flood the log.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace domus::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

// The process-wide logging configuration (a named singleton, set once by main).
struct Config {
    std::atomic<Level> level{Level::info};
    std::atomic<int> domain_id{-1};
    static Config& instance();
};

void write(Level level, std::string_view component, std::string_view message);

template <class... Args>
void emit(Level level, std::string_view component, fmt::format_string<Args...> f, Args&&... a) {
    if (level < Config::instance().level.load(std::memory_order_relaxed)) return;
    write(level, component, fmt::format(f, std::forward<Args>(a)...));
}

#define DOMUS_LOG_DEBUG(component, ...) \
    ::domus::log::emit(::domus::log::Level::debug, component, __VA_ARGS__)
#define DOMUS_LOG_INFO(component, ...) \
    ::domus::log::emit(::domus::log::Level::info, component, __VA_ARGS__)
#define DOMUS_LOG_WARN(component, ...) \
    ::domus::log::emit(::domus::log::Level::warn, component, __VA_ARGS__)
#define DOMUS_LOG_ERROR(component, ...) \
    ::domus::log::emit(::domus::log::Level::error, component, __VA_ARGS__)

// Allows `burst` events per second; counts the rest as suppressed. Thread-safe.
class RateLimit {
public:
    explicit RateLimit(std::uint32_t burst = 10) : burst_(burst) {}
    bool allow() noexcept;
    std::uint64_t suppressed() const noexcept { return suppressed_.load(); }

private:
    std::uint32_t burst_;
    std::atomic<std::int64_t> window_{0};
    std::atomic<std::uint32_t> used_{0};
    std::atomic<std::uint64_t> suppressed_{0};
};

// Makes guest-supplied text safe to print on one log line: bytes outside printable
// ASCII, and the backslash itself, become \xNN.
std::string escape(std::string_view text);

}  // namespace domus::log
