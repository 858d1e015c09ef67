// Framing, decoding and reply building for the XenStore protocol.
#include "store/wire.hpp"

#include <cstring>

namespace domus::store {
namespace {

constexpr std::size_t kHeaderSize = sizeof(xsd_sockmsg);

}  // namespace

void encode(const Message& message, std::string& out) {
    xsd_sockmsg header{message.type, message.req_id, message.tx_id,
                       static_cast<std::uint32_t>(message.payload.size())};
    out.append(reinterpret_cast<const char*>(&header), sizeof(header));
    out.append(message.payload);
}

std::string encode(const Message& message) {
    std::string out;
    encode(message, out);
    return out;
}

void Decoder::feed(std::string_view bytes) {
    if (broken_) return;
    if (offset_ > 0 && offset_ >= buffer_.size() / 2) {  // compact consumed prefix
        buffer_.erase(0, offset_);
        offset_ = 0;
    }
    buffer_.append(bytes);
}

Decoder::Next Decoder::next() {
    if (broken_) return {Status::Violation, {}};
    if (buffered() < kHeaderSize) return {Status::NeedMore, {}};
    xsd_sockmsg header;
    std::memcpy(&header, buffer_.data() + offset_, kHeaderSize);
    if (header.len > XENSTORE_PAYLOAD_MAX) {
        broken_ = true;
        buffer_.clear();
        offset_ = 0;
        return {Status::Violation, {}};
    }
    if (buffered() < kHeaderSize + header.len) return {Status::NeedMore, {}};
    Message message{header.type, header.req_id, header.tx_id,
                    buffer_.substr(offset_ + kHeaderSize, header.len)};
    offset_ += kHeaderSize + header.len;
    if (offset_ == buffer_.size()) {
        buffer_.clear();
        offset_ = 0;
    }
    return {Status::Message, std::move(message)};
}

void Decoder::reset() noexcept {
    buffer_.clear();
    offset_ = 0;
    broken_ = false;
}

Result<std::vector<std::string_view>> split_all_strings(std::string_view payload) {
    if (payload.empty() || payload.back() != '\0') return xs_error(XsError::Inval);
    std::vector<std::string_view> strings;
    std::size_t start = 0;
    while (start < payload.size()) {
        std::size_t nul = payload.find('\0', start);
        strings.push_back(payload.substr(start, nul - start));
        start = nul + 1;
    }
    return strings;
}

Result<std::vector<std::string_view>> split_strings(std::string_view payload, std::size_t count) {
    DOMUS_TRY(strings, split_all_strings(payload));
    if (strings.size() != count) return xs_error(XsError::Inval);
    return strings;
}

Result<std::pair<std::string_view, std::string_view>> split_path_value(std::string_view payload) {
    std::size_t nul = payload.find('\0');
    if (nul == std::string_view::npos) return xs_error(XsError::Inval);
    return std::pair{payload.substr(0, nul), payload.substr(nul + 1)};
}

Result<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max) {
    if (text.empty() || text.size() > 20) return xs_error(XsError::Inval);
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return xs_error(XsError::Inval);
        std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
        if (digit > max || value > (max - digit) / 10) return xs_error(XsError::Inval);
        value = value * 10 + digit;
    }
    return value;
}

Message make_reply(const Message& request, std::string payload) {
    if (payload.size() > XENSTORE_PAYLOAD_MAX) return make_error(request, XsError::TooBig);
    return Message{request.type, request.req_id, request.tx_id, std::move(payload)};
}

Message make_ok(const Message& request) {
    return make_reply(request, std::string("OK\0", 3));
}

Message make_error(const Message& request, XsError error) {
    std::string payload(error_name(error));
    payload += '\0';
    return Message{XS_ERROR, request.req_id, request.tx_id, std::move(payload)};
}

bool fits_watch_event(std::string_view path, std::string_view token) noexcept {
    return path.size() + token.size() + 2 <= XENSTORE_PAYLOAD_MAX;
}

Message make_watch_event(std::string_view path, std::string_view token) {
    std::string payload;
    payload.reserve(path.size() + token.size() + 2);
    payload.append(path);
    payload += '\0';
    payload.append(token);
    payload += '\0';
    return Message{XS_WATCH_EVENT, 0, 0, std::move(payload)};
}

std::string pack_strings(const std::vector<std::string>& strings) {
    std::string out;
    for (const auto& s : strings) {
        out += s;
        out += '\0';
    }
    return out;
}

std::string directory_part(std::uint64_t generation, const std::vector<std::string>& children,
                           std::uint64_t offset) {
    std::string out = std::to_string(generation);
    out += '\0';
    const std::string packed = pack_strings(children);
    if (offset >= packed.size()) {
        out += '\0';
        return out;
    }
    const std::size_t max = XENSTORE_PAYLOAD_MAX - out.size() - 1;
    std::size_t length = 0;
    while (offset + length < packed.size()) {
        std::size_t nul = packed.find('\0', offset + length);
        std::size_t item = nul + 1 - (offset + length);
        if (length + item > max) break;
        length += item;
    }
    out.append(packed, offset, length);
    if (offset + length == packed.size()) out += '\0';
    return out;
}

}  // namespace domus::store
