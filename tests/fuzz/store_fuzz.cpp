// Fuzz harness for the store (store/wire, store, transactions, watches, permissions,
// quotas): byte streams from four connections at once (Domain 0 and three guests), as
// whole requests or raw bytes; every reply and event must be a well-formed message.
//
// Input: records of u8 control (low 2 bits: the connection; the rest: what to do) then
//   0..3 a request: u8 type (0xff: raw u32), u8 req_id, u8 tx_id (0xff: raw u32),
//        u16 payload length (mod 4200, over the limit on purpose), payload bytes,
//        u8 where to split the encoded bytes into two receive() calls
//   4    raw stream bytes: u16 length, bytes
//   5    the connection closes and a new one takes its place
//   6    the toolstack reports the connection's domain shut down
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_input.hpp"
#include "store/store.hpp"
#include "store/wire.hpp"

using namespace domus::store;
using domus::fuzz::FuzzInput;

namespace {

constexpr std::array<ConnectionConfig, 4> kConfigs{{{0, true}, {1, false}, {5, false}, {6, false}}};

// Everything the store sends is whole messages within the payload limit.
void check_stream(const std::string& bytes) {
    Decoder decoder;
    decoder.feed(bytes);
    for (;;) {
        Decoder::Next next = decoder.next();
        DOMUS_FUZZ_CHECK(next.status != Decoder::Status::Violation);
        if (next.status == Decoder::Status::NeedMore) break;
        DOMUS_FUZZ_CHECK(next.message.payload.size() <= XENSTORE_PAYLOAD_MAX);
    }
    DOMUS_FUZZ_CHECK(decoder.buffered() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzInput in(data, size);
    Store store;
    std::array<Connection*, 4> connections{};
    for (std::size_t i = 0; i < connections.size(); ++i)
        connections[i] = &store.connect(kConfigs[i]);

    for (int step = 0; step < 512 && !in.empty(); ++step) {
        std::uint8_t control = in.u8();
        std::size_t which = control % 4;
        Connection*& connection = connections[which];
        std::string stream;
        switch ((control >> 2) % 8) {
            case 4:
                stream = std::string(in.text(in.u16()));
                break;
            case 5:
                store.disconnect(*connection);
                connection = &store.connect(kConfigs[which]);
                continue;
            case 6:
                store.domain_shutdown(kConfigs[which].domid);
                break;
            case 7:
                continue;
            default: {
                Message message;
                std::uint8_t type = in.u8();
                message.type = type == 0xff ? in.u32() : type % (XS_TYPE_COUNT + 1);
                message.req_id = in.u8();
                std::uint8_t tx = in.u8();
                message.tx_id = tx == 0xff ? in.u32() : tx % 4;
                message.payload = std::string(in.text(in.u16() % 4200));
                stream = encode(message);
                break;
            }
        }
        std::size_t split = std::min<std::size_t>(in.u8(), stream.size());
        Store::Output out = store.receive(*connection, std::string_view(stream).substr(0, split));
        if (!out.close) {
            std::string first = std::move(out.bytes);
            out = store.receive(*connection, std::string_view(stream).substr(split));
            out.bytes.insert(0, first);
        }
        check_stream(out.bytes);
        if (out.close) {
            store.disconnect(*connection);
            connection = &store.connect(kConfigs[which]);
        }
        for (Connection* other : store.take_notified())
            check_stream(store.take_event_bytes(*other));
        (void)store.take_domain_changes();
    }
    return 0;
}
