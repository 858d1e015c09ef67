// XenbusStoreClient: backends::XenbusStore over a Domain-0 connection to the store
// daemon's tool socket (store::Client), one per device.
#pragma once

#include <string>

#include "backends/xenbus_store.hpp"
#include "store/client.hpp"

namespace domus::monitor {

class XenbusStoreClient final : public backends::XenbusStore {
public:
    static Result<std::unique_ptr<XenbusStoreClient>> connect(const std::string& socket_path);

    Result<std::string> read(std::string_view path) override { return client_.read(path); }
    Result<void> write(std::string_view path, std::string_view value) override {
        return client_.write(path, value);
    }
    Result<void> remove(std::string_view path) override { return client_.remove(path); }
    Result<void> transact(
        const std::function<Result<void>(backends::XenbusTransaction&)>& body) override;
    Result<void> watch(std::string_view path, std::string_view token) override {
        return client_.watch(path, token);
    }
    Result<std::optional<backends::XenbusWatchEvent>> next_event(bool block) override;
    int fd() const noexcept override { return client_.fd(); }

private:
    explicit XenbusStoreClient(store::Client client) : client_(std::move(client)) {}
    store::Client client_;
};

}  // namespace domus::monitor
