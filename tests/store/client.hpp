// Test helper: a client on a Store connection that speaks in message types and
// payload strings, so tests read like protocol traces.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/store.hpp"

namespace domus::store::testing {

inline std::string z(std::string_view s) {
    return std::string(s) + '\0';
}

// "a\0b\0" from {"a", "b"}.
inline std::string strings(std::initializer_list<std::string_view> items) {
    std::string out;
    for (auto item : items)
        out += z(item);
    return out;
}

class Client {
public:
    Client(Store& store, DomainId domid, bool privileged)
        : store_(store), connection_(store.connect({domid, privileged})) {}

    Message send(std::uint32_t type, std::string payload, std::uint32_t tx = 0) {
        return store_.handle(connection_, Message{type, 7, tx, std::move(payload)});
    }
    // The payload of a successful reply, or "ERR:<NAME>" for an error reply.
    std::string call(std::uint32_t type, std::string payload, std::uint32_t tx = 0) {
        Message reply = send(type, std::move(payload), tx);
        if (reply.type == XS_ERROR)
            return "ERR:" + reply.payload.substr(0, reply.payload.size() - 1);
        return reply.payload;
    }
    std::string read(std::string_view path, std::uint32_t tx = 0) {
        return call(XS_READ, z(path), tx);
    }
    std::string write(std::string_view path, std::string_view value, std::uint32_t tx = 0) {
        return call(XS_WRITE, z(path) + std::string(value), tx);
    }
    std::string mkdir(std::string_view path, std::uint32_t tx = 0) {
        return call(XS_MKDIR, z(path), tx);
    }
    std::string rm(std::string_view path, std::uint32_t tx = 0) { return call(XS_RM, z(path), tx); }
    std::string set_perms(std::string_view path, std::initializer_list<std::string_view> perms) {
        std::string payload = z(path);
        for (auto p : perms)
            payload += z(p);
        return call(XS_SET_PERMS, payload);
    }
    std::string watch(std::string_view path, std::string_view token) {
        return call(XS_WATCH, strings({path, token}));
    }
    // A watch whose initial event is dropped, for tests of the events that follow.
    std::string watch_from_now(std::string_view path, std::string_view token) {
        std::string reply = watch(path, token);
        events();
        return reply;
    }
    std::uint32_t start() {
        return static_cast<std::uint32_t>(std::stoul(call(XS_TRANSACTION_START, z(""))));
    }
    std::string end(std::uint32_t tx, bool commit) {
        return call(XS_TRANSACTION_END, z(commit ? "T" : "F"), tx);
    }
    // Pending events as "path|token" strings.
    std::vector<std::string> events() {
        std::vector<std::string> out;
        for (const Message& event : store_.take_events(connection_)) {
            auto nul = event.payload.find('\0');
            out.push_back(event.payload.substr(0, nul) + "|" +
                          event.payload.substr(nul + 1, event.payload.size() - nul - 2));
        }
        return out;
    }

    Connection& connection() { return connection_; }

private:
    Store& store_;
    Connection& connection_;
};

inline const std::string kOk = z("OK");

}  // namespace domus::store::testing
