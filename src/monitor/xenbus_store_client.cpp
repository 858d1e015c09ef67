// XenbusStoreClient: the backends' store calls mapped onto store::Client.
#include "monitor/xenbus_store_client.hpp"

namespace domus::monitor {
namespace {

class WrappedTransaction final : public backends::XenbusTransaction {
public:
    explicit WrappedTransaction(store::ClientTransaction& t) : t_(t) {}
    Result<void> write(std::string_view path, std::string_view value) override {
        return t_.write(path, value);
    }
    Result<void> mkdir(std::string_view path) override { return t_.mkdir(path); }
    Result<void> set_perms(std::string_view path, const std::vector<std::string>& perms) override {
        return t_.set_perms(path, perms);
    }

private:
    store::ClientTransaction& t_;
};

}  // namespace

Result<std::unique_ptr<XenbusStoreClient>> XenbusStoreClient::connect(
    const std::string& socket_path) {
    DOMUS_TRY(client, store::Client::connect(socket_path));
    return std::unique_ptr<XenbusStoreClient>(new XenbusStoreClient(std::move(client)));
}

Result<void> XenbusStoreClient::transact(
    const std::function<Result<void>(backends::XenbusTransaction&)>& body) {
    return client_.transact([&](store::ClientTransaction& t) {
        WrappedTransaction wrapped(t);
        return body(wrapped);
    });
}

Result<std::optional<backends::XenbusWatchEvent>> XenbusStoreClient::next_event(bool block) {
    DOMUS_TRY(event, client_.next_event(block));
    if (!event) return std::optional<backends::XenbusWatchEvent>();
    return std::optional<backends::XenbusWatchEvent>(
        backends::XenbusWatchEvent{std::move(event->path), std::move(event->token)});
}

}  // namespace domus::monitor
