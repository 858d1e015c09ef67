// The XenStore byte protocol: an incremental decoder from a byte stream to
// messages, the encoder, argument splitting for request payloads, and builders for
// replies (OK, ERROR, WATCH_EVENT, string lists, DIRECTORY_PART chunks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <domus/abi/xs_wire.h>

#include "base/result.hpp"
#include "store/error.hpp"

namespace domus::store {

// One message, header fields plus payload. The payload never exceeds
// XENSTORE_PAYLOAD_MAX when it comes from Decoder or a reply builder.
struct Message {
    std::uint32_t type = XS_INVALID;
    std::uint32_t req_id = 0;
    std::uint32_t tx_id = 0;
    std::string payload;  // bytes; may contain NULs
    bool operator==(const Message&) const = default;
};

// Header + payload, ready to write to a socket or ring.
void encode(const Message& message, std::string& out);
std::string encode(const Message& message);

// Reassembles messages from a byte stream fed in arbitrary pieces. A header whose
// len exceeds XENSTORE_PAYLOAD_MAX is a protocol violation: xenstored drops such a
// connection, and the decoder stays broken (the stream can't be resynchronised).
// Memory is bounded: at most one header + XENSTORE_PAYLOAD_MAX bytes are kept
// beyond what the caller has not yet taken out with next().
class Decoder {
public:
    enum class Status { Message, NeedMore, Violation };
    struct Next {
        Status status;
        Message message;  // valid for Status::Message
    };

    // Appends bytes. Feeding a broken decoder does nothing.
    void feed(std::string_view bytes);
    // The next complete message, if there is one.
    Next next();

    bool broken() const noexcept { return broken_; }
    std::size_t buffered() const noexcept { return buffer_.size() - offset_; }
    void reset() noexcept;

private:
    std::string buffer_;
    std::size_t offset_ = 0;
    bool broken_ = false;
};

// Results are views into `payload`.
// Splits a payload that must be exactly `count` NUL-terminated strings. EINVAL else.
Result<std::vector<std::string_view>> split_strings(std::string_view payload, std::size_t count);
// Splits a payload of one or more NUL-terminated strings (SET_PERMS). EINVAL else.
Result<std::vector<std::string_view>> split_all_strings(std::string_view payload);
// WRITE's payload: "path\0" then raw value bytes. EINVAL if there is no NUL.
Result<std::pair<std::string_view, std::string_view>> split_path_value(std::string_view payload);
// A decimal number in [0, max], digits only. EINVAL else.
Result<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max);

// Reply to `request` with `payload`, or E2BIG when it exceeds XENSTORE_PAYLOAD_MAX.
Message make_reply(const Message& request, std::string payload);
Message make_ok(const Message& request);  // "OK\0"
Message make_error(const Message& request, XsError error);
// WATCH_EVENT "path\0token\0"; an event over XENSTORE_PAYLOAD_MAX can't be sent.
bool fits_watch_event(std::string_view path, std::string_view token) noexcept;
Message make_watch_event(std::string_view path, std::string_view token);

// Each string followed by a NUL.
std::string pack_strings(const std::vector<std::string>& strings);
// DIRECTORY_PART reply: "gen\0" then the whole names that fit from byte `offset` of
// the packed child list, and one more NUL when the chunk reaches the end.
std::string directory_part(std::uint64_t generation, const std::vector<std::string>& children,
                           std::uint64_t offset);

}  // namespace domus::store
