// store::Client implementation: framing per include/domus/abi/xs_wire.h.
#include "store/client.hpp"

#include <domus/abi/xs_wire.h>
#include <poll.h>

#include <cstdlib>

#include "base/host_files.hpp"
#include "base/unix_socket.hpp"

namespace domus::store {
namespace {

std::string with_nul(std::string_view text) {
    return std::string(text) + '\0';
}

// Socket failures name the connection they happened on.
Result<void> store_io(Result<void> done) {
    if (done) return done;
    return Error{"store: " + done.error().message, done.error().code};
}

}  // namespace

Result<Client> Client::connect(const std::string& socket_path) {
    // A sandboxed monitor's hot-plug gets its connection from domusd (host_files.hpp).
    DOMUS_TRY(fd, HostFiles::process().connect(socket_path));
    return Client(std::move(fd));
}

Result<std::string> Client::request(std::uint32_t type, std::string payload, std::uint32_t tx) {
    std::lock_guard lock(mutex_);
    xsd_sockmsg header{type, next_id_++, tx, std::uint32_t(payload.size())};
    payload.insert(0, reinterpret_cast<const char*>(&header), sizeof(header));
    DOMUS_TRY_VOID(store_io(send_all(fd_.get(), payload)));
    for (;;) {
        std::uint32_t req_id = 0;
        DOMUS_TRY(message, read_message(&req_id));
        if (!message) continue;  // a watch event, queued
        // An earlier request's reply again: a store killed between sending a reply and
        // consuming its request answers it twice (docs/store-semantics.md). Skip it.
        if (std::int32_t(header.req_id - req_id) > 0) continue;
        if (req_id != header.req_id)
            return make_error("store: reply to request {}, expected {}", req_id, header.req_id);
        if (message->first == XS_ERROR) return Error{std::string(message->second.c_str()), 0};
        return std::move(message->second);
    }
}

Result<std::optional<std::pair<std::uint32_t, std::string>>> Client::read_message(
    std::uint32_t* req_id) {
    xsd_sockmsg header{};
    DOMUS_TRY_VOID(store_io(receive_all(fd_.get(), &header, sizeof(header))));
    if (header.len > XENSTORE_PAYLOAD_MAX)
        return make_error("store: message of {} bytes", header.len);
    std::string body(header.len, '\0');
    DOMUS_TRY_VOID(store_io(receive_all(fd_.get(), body.data(), body.size())));
    if (header.type == XS_WATCH_EVENT) {
        auto nul = body.find('\0');
        WatchEvent event{body.substr(0, nul),
                         nul == std::string::npos ? "" : std::string(body.c_str() + nul + 1)};
        events_.push_back(std::move(event));
        return std::optional<std::pair<std::uint32_t, std::string>>();
    }
    *req_id = header.req_id;
    return std::optional<std::pair<std::uint32_t, std::string>>(
        std::pair{header.type, std::move(body)});
}

Result<void> Client::watch(std::string_view path, std::string_view token) {
    DOMUS_TRY_VOID(request(XS_WATCH, with_nul(path) + with_nul(token)));
    return {};
}

Result<void> Client::unwatch(std::string_view path, std::string_view token) {
    DOMUS_TRY_VOID(request(XS_UNWATCH, with_nul(path) + with_nul(token)));
    return {};
}

Result<std::optional<WatchEvent>> Client::next_event(bool block) {
    std::lock_guard lock(mutex_);
    while (events_.empty()) {
        pollfd p{fd_.get(), POLLIN, 0};
        if (!block && ::poll(&p, 1, 0) <= 0) return std::optional<WatchEvent>();
        std::uint32_t req_id = 0;
        DOMUS_TRY(message, read_message(&req_id));
        (void)message;  // a reply nobody waits for: dropped
    }
    WatchEvent event = std::move(events_.front());
    events_.pop_front();
    return std::optional<WatchEvent>(std::move(event));
}

Result<std::string> Client::read(std::string_view path, std::uint32_t tx) {
    return request(XS_READ, with_nul(path), tx);
}

Result<std::vector<std::string>> Client::directory(std::string_view path, std::uint32_t tx) {
    DOMUS_TRY(reply, request(XS_DIRECTORY, with_nul(path), tx));
    std::vector<std::string> children;
    for (std::size_t at = 0; at < reply.size();) {
        std::size_t end = reply.find('\0', at);
        if (end == std::string::npos) end = reply.size();
        if (end > at) children.push_back(reply.substr(at, end - at));
        at = end + 1;
    }
    return children;
}

Result<void> Client::write(std::string_view path, std::string_view value, std::uint32_t tx) {
    std::string payload = with_nul(path);
    payload.append(value);
    DOMUS_TRY_VOID(request(XS_WRITE, std::move(payload), tx));
    return {};
}

Result<void> Client::mkdir(std::string_view path, std::uint32_t tx) {
    DOMUS_TRY_VOID(request(XS_MKDIR, with_nul(path), tx));
    return {};
}

Result<void> Client::remove(std::string_view path, std::uint32_t tx) {
    auto result = request(XS_RM, with_nul(path), tx);
    if (!result && result.error().message != "ENOENT") return std::move(result).error();
    return {};
}

Result<void> Client::set_perms(std::string_view path, const std::vector<std::string>& perms,
                               std::uint32_t tx) {
    std::string payload = with_nul(path);
    for (const auto& perm : perms)
        payload += with_nul(perm);
    DOMUS_TRY_VOID(request(XS_SET_PERMS, std::move(payload), tx));
    return {};
}

void Batch::write(std::string_view path, std::string_view value) {
    std::string payload = with_nul(path);
    payload.append(value);
    requests_.push_back({XS_WRITE, std::move(payload)});
}

void Batch::mkdir(std::string_view path) {
    requests_.push_back({XS_MKDIR, with_nul(path)});
}

void Batch::remove(std::string_view path) {
    requests_.push_back({XS_RM, with_nul(path)});
}

void Batch::set_perms(std::string_view path, const std::vector<std::string>& perms) {
    std::string payload = with_nul(path);
    for (const auto& perm : perms)
        payload += with_nul(perm);
    requests_.push_back({XS_SET_PERMS, std::move(payload)});
}

Result<void> Client::send(const Batch& batch, std::uint32_t tx) {
    std::lock_guard lock(mutex_);
    std::string wire;
    std::uint32_t first = next_id_;
    for (const auto& request : batch.requests_) {
        xsd_sockmsg header{request.type, next_id_++, tx, std::uint32_t(request.payload.size())};
        wire.append(reinterpret_cast<const char*>(&header), sizeof(header));
        wire += request.payload;
    }
    if (wire.empty()) return {};
    DOMUS_TRY_VOID(store_io(send_all(fd_.get(), wire)));
    Result<void> outcome;
    for (std::uint32_t expected = first; expected != next_id_;) {
        std::uint32_t req_id = 0;
        DOMUS_TRY(message, read_message(&req_id));
        if (!message) continue;                             // a watch event, queued
        if (std::int32_t(expected - req_id) > 0) continue;  // an earlier reply again (request)
        if (req_id != expected)
            return make_error("store: reply to request {}, expected {}", req_id, expected);
        const auto& request = batch.requests_[expected - first];
        std::string error = message->first == XS_ERROR ? message->second.c_str() : "";
        if (outcome && !error.empty() && !(request.type == XS_RM && error == "ENOENT"))
            outcome = Error{error, 0};
        ++expected;
    }
    return outcome;
}

Result<void> Client::transact(const std::function<Result<void>(ClientTransaction&)>& body,
                              int attempts) {
    for (int attempt = 0; attempt < attempts; ++attempt) {
        DOMUS_TRY(id_text, request(XS_TRANSACTION_START, with_nul("")));
        char* end = nullptr;
        unsigned long id = std::strtoul(id_text.c_str(), &end, 10);
        if (id_text.empty() || *end || id == 0 || id > 0xFFFFFFFFul)
            return make_error("store: transaction id \"{}\"", id_text);
        auto tx = std::uint32_t(id);
        ClientTransaction transaction(*this, tx);
        if (auto done = body(transaction); !done) {
            (void)request(XS_TRANSACTION_END, with_nul("F"), tx);
            return done;
        }
        auto committed = request(XS_TRANSACTION_END, with_nul("T"), tx);
        if (committed) return {};
        if (committed.error().message != "EAGAIN") return std::move(committed).error();
    }
    return make_error("store: transaction kept conflicting ({} attempts)", attempts);
}

}  // namespace domus::store
