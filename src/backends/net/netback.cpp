// NetBack's two directions (see netback.hpp).
#include "backends/net/netback.hpp"

#include <algorithm>
#include <cstring>

#include "backends/net/offload.hpp"
#include "base/log.hpp"

namespace domus::backends {
namespace {

constexpr std::size_t kEthernetHeader = 14;

}  // namespace

NetBack::NetBack(DataPathHost& host, FramePort& port, std::span<std::byte> tx_area,
                 std::span<std::byte> rx_area, NetFeatures features)
    : host_(host), port_(port), tx_(tx_area), rx_(rx_area), features_(features), frame_(kMaxFrame) {
    slots_.reserve(XEN_NETIF_NR_SLOTS_MIN + XEN_NETIF_EXTRA_TYPE_MAX);
    fragments_.reserve(XEN_NETIF_NR_SLOTS_MIN);
    refs_.reserve(XEN_NETIF_NR_SLOTS_MIN);
    pieces_.reserve(XEN_NETIF_NR_SLOTS_MIN + 1);
    rx_requests_.reserve(kMaxFrame / XEN_PAGE_SIZE + 2);
}

void NetBack::notify_if(bool asked) {
    if (!asked) return;
    host_.notify_frontend();
    ++stats_.notifications;
}

// --- TX: guest to host ----------------------------------------------------------------

NetBack::Take NetBack::take_packet() {
    slots_.clear();
    fragments_.clear();
    has_gso_ = false;
    netif_tx_request request;
    switch (tx_.next(request)) {
        case TxRing::Next::empty:
            return Take::empty;
        case TxRing::Next::overflow:
            return Take::broken;
        case TxRing::Next::request:
            break;
    }
    slots_.push_back({request, false});
    fragments_.push_back(request);
    bool extras = request.flags & NETTXF_extra_info;
    bool more = request.flags & NETTXF_more_data;
    // The rest of the packet must be on the ring already: a frontend pushes a packet
    // whole (Linux netback treats a missing slot as fatal too).
    while (extras || more) {
        if (slots_.size() > XEN_NETIF_NR_SLOTS_MIN + XEN_NETIF_EXTRA_TYPE_MAX) {
            DOMUS_LOG_WARN("netback", "a packet of more than {} slots",
                           XEN_NETIF_NR_SLOTS_MIN + XEN_NETIF_EXTRA_TYPE_MAX);
            return Take::broken;
        }
        if (tx_.next(request) != TxRing::Next::request) return Take::broken;
        if (extras) {
            netif_extra_info extra;
            std::memcpy(&extra, &request, sizeof extra);
            slots_.push_back({request, true});
            if (extra.type == XEN_NETIF_EXTRA_TYPE_GSO) {
                gso_ = extra;
                has_gso_ = true;
            }
            extras = extra.flags & XEN_NETIF_EXTRA_FLAG_MORE;
            continue;
        }
        slots_.push_back({request, false});
        fragments_.push_back(request);
        more = request.flags & NETTXF_more_data;
    }
    return Take::packet;
}

std::int16_t NetBack::send_packet() {
    // The first request carries the whole packet's size, the others their own.
    std::size_t total = fragments_.front().size;
    std::size_t rest = 0;
    for (std::size_t i = 1; i < fragments_.size(); ++i)
        rest += fragments_[i].size;
    if (fragments_.size() > XEN_NETIF_NR_SLOTS_MIN || total < kEthernetHeader || rest >= total)
        return XEN_NETIF_RSP_ERROR;
    std::size_t first = total - rest;
    refs_.clear();
    for (std::size_t i = 0; i < fragments_.size(); ++i) {
        const auto& f = fragments_[i];
        std::size_t size = i == 0 ? first : f.size;
        if (f.offset >= XEN_PAGE_SIZE || size > XEN_PAGE_SIZE - f.offset || size == 0)
            return XEN_NETIF_RSP_ERROR;
        refs_.push_back(f.gref);
    }
    if (!host_.map_grants(refs_, false, tx_pages_)) return XEN_NETIF_RSP_ERROR;
    // The headers are copied out (the guest cannot change them under the checks, and the
    // checksum field may be rewritten); the rest goes from the granted pages.
    std::size_t header_bytes = std::min(total, headers_.size());
    std::size_t copied = 0;
    pieces_.clear();
    pieces_.push_back({headers_.data(), header_bytes});
    for (std::size_t i = 0; i < fragments_.size(); ++i) {
        std::size_t size = i == 0 ? first : fragments_[i].size;
        std::byte* data = tx_pages_->page(i).data() + fragments_[i].offset;
        std::size_t into_headers = std::min(size, header_bytes - copied);
        std::memcpy(headers_.data() + copied, data, into_headers);
        copied += into_headers;
        if (size > into_headers) pieces_.push_back({data + into_headers, size - into_headers});
    }
    auto header = tx_offload(std::span(headers_).first(header_bytes), total,
                             fragments_.front().flags, has_gso_ ? &gso_ : nullptr);
    if (!header) {
        DOMUS_LOG_DEBUG("netback", "TX packet refused: {}", header.error().message);
        tx_pages_->release();
        return XEN_NETIF_RSP_ERROR;
    }
    auto sent = port_.send(*header, pieces_);
    tx_pages_->release();
    if (!sent) {
        DOMUS_LOG_DEBUG("netback", "TX packet not sent: {}", sent.error().message);
        return XEN_NETIF_RSP_ERROR;
    }
    if (!*sent) {
        ++stats_.tx_dropped;
        return XEN_NETIF_RSP_DROPPED;
    }
    ++stats_.tx_packets;
    stats_.tx_bytes += total;
    return XEN_NETIF_RSP_OKAY;
}

void NetBack::answer_packet(std::int16_t status) {
    for (const auto& slot : slots_) {
        netif_tx_response response{};
        response.id = slot.request.id;
        response.status = slot.extra ? std::int16_t(XEN_NETIF_RSP_NULL) : status;
        tx_.push_response(response);
    }
}

bool NetBack::transmit() {
    for (;;) {
        bool answered = false;
        bool held = false;
        for (;;) {
            if (!tx_held_) {
                Take taken = take_packet();
                if (taken == Take::broken) return false;
                if (taken == Take::empty) break;
            }
            // The limit: the packet (its size is the first slot's) waits for its tokens.
            if (!tx_limit_.unlimited() && !tx_limit_.try_take(fragments_.front().size, clock_())) {
                if (!tx_held_) ++stats_.tx_held;
                tx_held_ = held = true;
                break;
            }
            tx_held_ = false;
            std::int16_t status = send_packet();
            if (status == XEN_NETIF_RSP_ERROR) ++stats_.tx_errors;
            answer_packet(status);
            answered = true;
        }
        if (answered) notify_if(tx_.publish_responses());
        if (held || !tx_.more_after_final_check()) return true;
    }
}

std::optional<std::chrono::nanoseconds> NetBack::tx_held_for(RateClock::time_point now) {
    if (!tx_held_) return std::nullopt;
    return tx_limit_.wait_for(fragments_.front().size, now);
}

// --- RX: host to guest ----------------------------------------------------------------

bool NetBack::deliver_frame(std::size_t length) {
    auto offload = rx_offload(frame_header_, features_.gso_tcpv4, features_.gso_tcpv6);
    std::size_t data_slots = (length + XEN_PAGE_SIZE - 1) / XEN_PAGE_SIZE;
    std::size_t needed = data_slots + (offload && offload->gso ? 1 : 0);
    std::uint32_t available = 0;
    if (!rx_.available(available)) return false;
    if (available < needed) {
        rx_slots_available_ = false;  // keep the frame until the guest posts more pages
        return true;
    }
    rx_requests_.clear();
    refs_.clear();
    for (std::size_t i = 0; i < needed; ++i) {
        netif_rx_request request;
        if (rx_.next(request) != RxRing::Next::request) return false;
        rx_requests_.push_back(request);
    }
    // Data goes into every request's page but the GSO slot's (the second).
    std::size_t gso_slot = offload && offload->gso ? 1 : needed;
    for (std::size_t i = 0; i < needed; ++i)
        if (i != gso_slot) refs_.push_back(rx_requests_[i].gref);
    bool ok = bool(offload) && length > 0 && host_.map_grants(refs_, true, rx_pages_);
    if (!ok) {
        if (!offload) DOMUS_LOG_DEBUG("netback", "RX frame dropped: {}", offload.error().message);
        ++stats_.rx_errors;
        for (const auto& request : rx_requests_) {
            netif_rx_response response{};
            response.id = request.id;
            response.status = XEN_NETIF_RSP_ERROR;
            rx_.push_response(response);
        }
        frame_length_ = 0;
        return true;
    }
    std::size_t done = 0;
    std::size_t page = 0;
    for (std::size_t i = 0; i < needed; ++i) {
        netif_rx_response response{};
        response.id = rx_requests_[i].id;
        if (i == gso_slot) {
            netif_extra_info extra = *offload->gso;
            static_assert(sizeof extra == sizeof response);
            std::memcpy(&response, &extra, sizeof response);
            rx_.push_response(response);
            continue;
        }
        std::size_t chunk = std::min<std::size_t>(XEN_PAGE_SIZE, length - done);
        std::memcpy(rx_pages_->page(page++).data(), frame_.data() + done, chunk);
        done += chunk;
        response.offset = 0;
        response.status = std::int16_t(chunk);
        std::uint16_t flags = 0;
        if (i == 0)
            flags = offload->netif_flags;
        else
            flags = offload->netif_flags & (NETRXF_data_validated | NETRXF_csum_blank);
        if (done < length) flags |= NETRXF_more_data;
        if (i != 0) flags &= std::uint16_t(~NETRXF_extra_info);
        response.flags = flags;
        rx_.push_response(response);
    }
    rx_pages_->release();
    ++stats_.rx_packets;
    stats_.rx_bytes += length;
    frame_length_ = 0;
    return true;
}

bool NetBack::receive() {
    rx_slots_available_ = true;
    bool answered = false;
    for (;;) {
        if (frame_length_ == 0) {
            auto length = port_.receive(frame_header_, frame_);
            if (!length) {
                DOMUS_LOG_WARN("netback", "{}", length.error().message);
                break;
            }
            if (*length == 0) break;
            frame_length_ = *length;
        }
        RING_IDX before = rx_.req_cons();
        if (!deliver_frame(frame_length_)) return false;
        if (rx_.req_cons() != before) answered = true;
        if (!rx_slots_available_) {
            // Ask for a notification when the guest posts pages, then look once more (it
            // may have posted them just before the request for one was visible).
            rx_.more_after_final_check();
            before = rx_.req_cons();
            if (!deliver_frame(frame_length_)) return false;
            if (rx_.req_cons() != before) answered = true;
            if (!rx_slots_available_) break;
        }
    }
    if (answered) notify_if(rx_.publish_responses());
    return true;
}

}  // namespace domus::backends
