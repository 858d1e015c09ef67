// MemoryStore: a device's store for tests, with no store daemon behind it: a map of
// nodes, one watch list, transactions applied at once, events signalled on an eventfd.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "backends/xenbus_store.hpp"
#include "base/fd.hpp"

namespace domus::backends::fakes {

class MemoryStore final : public XenbusStore {
public:
    MemoryStore() : wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

    Result<std::string> read(std::string_view path) override {
        std::lock_guard lock(mutex_);
        auto it = nodes_.find(std::string(path));
        if (it == nodes_.end()) return make_error("ENOENT");
        return it->second;
    }
    Result<void> write(std::string_view path, std::string_view value) override {
        std::lock_guard lock(mutex_);
        set_locked(std::string(path), std::string(value));
        return {};
    }
    Result<void> remove(std::string_view path) override {
        std::lock_guard lock(mutex_);
        std::string prefix(path);
        for (auto it = nodes_.begin(); it != nodes_.end();)
            it = (it->first == prefix || it->first.starts_with(prefix + "/")) ? nodes_.erase(it)
                                                                              : std::next(it);
        ++removals;
        return {};
    }
    Result<void> transact(const std::function<Result<void>(XenbusTransaction&)>& body) override {
        // Buffered, then applied at once: nobody sees half of it.
        struct Buffer final : XenbusTransaction {
            std::vector<std::pair<std::string, std::string>> writes;
            Result<void> write(std::string_view p, std::string_view v) override {
                writes.emplace_back(p, v);
                return {};
            }
            Result<void> mkdir(std::string_view p) override { return write(p, ""); }
            Result<void> set_perms(std::string_view, const std::vector<std::string>&) override {
                return {};
            }
        } buffer;
        DOMUS_TRY_VOID(body(buffer));
        std::lock_guard lock(mutex_);
        for (auto& [p, v] : buffer.writes)
            set_locked(p, v);
        ++transactions;
        return {};
    }
    Result<void> watch(std::string_view path, std::string_view token) override {
        std::lock_guard lock(mutex_);
        watches_.emplace_back(path, token);
        queue_locked(std::string(path), std::string(token));  // Xen fires a new watch once
        return {};
    }
    Result<std::optional<XenbusWatchEvent>> next_event(bool) override {
        std::lock_guard lock(mutex_);
        if (events_.empty()) {
            std::uint64_t value;
            [[maybe_unused]] auto n = ::read(wake_.get(), &value, sizeof(value));
            return std::optional<XenbusWatchEvent>();
        }
        auto event = std::move(events_.front());
        events_.pop_front();
        return std::optional<XenbusWatchEvent>(std::move(event));
    }
    int fd() const noexcept override { return wake_.get(); }

    std::string get(const std::string& path) {
        auto value = read(path);
        return value ? *value : "<none>";
    }
    int transactions = 0;
    int removals = 0;

private:
    void set_locked(std::string path, std::string value) {
        nodes_[path] = std::move(value);
        for (auto& [watched, token] : watches_)
            if (path == watched) queue_locked(path, token);
    }
    void queue_locked(std::string path, std::string token) {
        events_.push_back({std::move(path), std::move(token)});
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof(one));
    }

    Fd wake_;
    std::mutex mutex_;
    std::map<std::string, std::string> nodes_;
    std::vector<std::pair<std::string, std::string>> watches_;
    std::deque<XenbusWatchEvent> events_;
};

}  // namespace domus::backends::fakes
