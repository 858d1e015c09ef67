// domus-store-bench: XenStore throughput, over the tool socket of a real
// domus-xenstored (with and without its state journal, best of 3 rounds taken in
// turns) and directly against an in-process Store (the ceiling). Prints
// `name value unit` lines. Clients pipeline requests (several outstanding before
// reading the replies), as real clients with several handles or threads do.
#include <domus/abi/xs_wire.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "store/state_journal.hpp"
#include "store/store.hpp"
#include "xenstored_process.hpp"

namespace {

using namespace std::chrono_literals;
using domus::store::Message;
using Clock = std::chrono::steady_clock;

constexpr int kClients = 4;
constexpr int kDepth = 32;    // requests in flight per client (ops workload)
constexpr int kTxnDepth = 8;  // transactions in flight per client
constexpr auto kDuration = 2s;

void emit(const char* name, double value, const char* unit) {
    std::printf("%s %.0f %s\n", name, value, unit);
    std::fflush(stdout);
}

std::string nul(std::string s) {
    return s + '\0';
}

// The requests of one op: a write or a read of the client's own keys.
Message op(int client, int i) {
    std::string key = "/bench/c" + std::to_string(client) + "/k" +
                      std::to_string((i / 2) % 64);  // read what the write before wrote
    if (i % 2 == 0) return Message{XS_WRITE, 0, 0, nul(key) + "value-" + std::to_string(i)};
    return Message{XS_READ, 0, 0, nul(key)};
}

// A blocking client on the tool socket that counts whole replies.
class SocketClient {
public:
    explicit SocketClient(const std::string& path)
        : fd_(domus::test::connect_unix(path, SOCK_STREAM)) {}
    bool ok() const { return bool(fd_); }
    bool send(const std::string& bytes) {
        for (std::size_t done = 0; done < bytes.size();) {
            ssize_t n = ::write(fd_.get(), bytes.data() + done, bytes.size() - done);
            if (n <= 0) return false;
            done += std::size_t(n);
        }
        return true;
    }
    // Reads `count` replies; their payloads (for transaction ids) when `keep`.
    bool receive(int count, std::vector<std::string>* keep = nullptr) {
        while (count > 0) {
            if (buffer_.size() - head_ >= sizeof(xsd_sockmsg)) {
                xsd_sockmsg h;
                std::memcpy(&h, buffer_.data() + head_, sizeof(h));
                if (buffer_.size() - head_ >= sizeof(h) + h.len) {
                    if (h.type == XS_ERROR) return false;
                    if (keep) keep->push_back(buffer_.substr(head_ + sizeof(h), h.len));
                    head_ += sizeof(h) + h.len;
                    --count;
                    continue;
                }
            }
            buffer_.erase(0, head_);
            head_ = 0;
            char chunk[65536];
            ssize_t n = ::read(fd_.get(), chunk, sizeof(chunk));
            if (n <= 0) return false;
            buffer_.append(chunk, std::size_t(n));
        }
        return true;
    }

private:
    domus::Fd fd_;
    std::string buffer_;
    std::size_t head_ = 0;
};

// Runs `body(client, stop)` on kClients threads for kDuration; returns total units / s.
template <class Body>
double run_clients(Body body) {
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> total{0};
    std::vector<std::thread> threads;
    auto start = Clock::now();
    for (int c = 0; c < kClients; ++c)
        threads.emplace_back([&, c] { total += body(c, stop); });
    std::this_thread::sleep_for(kDuration);
    stop = true;
    for (auto& t : threads)
        t.join();
    return double(total) / std::chrono::duration<double>(Clock::now() - start).count();
}

double socket_ops(const std::string& path, int depth) {
    return run_clients([&](int c, std::atomic<bool>& stop) -> std::uint64_t {
        SocketClient client(path);
        std::uint64_t done = 0;
        for (int i = 0; client.ok() && !stop; i += depth) {
            std::string batch;
            for (int k = 0; k < depth; ++k)
                domus::store::encode(op(c, i + k), batch);
            if (!client.send(batch) || !client.receive(depth)) break;
            done += std::uint64_t(depth);
        }
        return done;
    });
}

double socket_txns(const std::string& path) {
    return run_clients([&](int c, std::atomic<bool>& stop) -> std::uint64_t {
        SocketClient client(path);
        std::uint64_t done = 0;
        std::string key = "/bench/t" + std::to_string(c) + "/";
        for (int i = 0; client.ok() && !stop; ++i) {
            std::string starts;
            for (int k = 0; k < kTxnDepth; ++k)
                domus::store::encode(Message{XS_TRANSACTION_START, 0, 0, nul("")}, starts);
            std::vector<std::string> ids;
            if (!client.send(starts) || !client.receive(kTxnDepth, &ids)) break;
            std::string work;
            for (int k = 0; k < kTxnDepth; ++k) {
                auto tx = std::uint32_t(std::stoul(ids[std::size_t(k)]));
                std::string own = key + std::to_string(k);  // distinct keys: no conflicts
                domus::store::encode(Message{XS_WRITE, 0, tx, nul(own + "/a") + "1"}, work);
                domus::store::encode(Message{XS_WRITE, 0, tx, nul(own + "/b") + "2"}, work);
                domus::store::encode(Message{XS_TRANSACTION_END, 0, tx, nul("T")}, work);
            }
            if (!client.send(work) || !client.receive(3 * kTxnDepth)) break;
            done += kTxnDepth;
        }
        return done;
    });
}

// The same workloads, one thread, straight into Store::handle.
template <class Step>
double in_process(Step step) {
    domus::store::Store store;
    std::vector<domus::store::Connection*> connections;
    for (int c = 0; c < kClients; ++c)
        connections.push_back(&store.connect({0, true}));
    std::uint64_t done = 0;
    auto start = Clock::now();
    for (int i = 0; Clock::now() - start < kDuration; ++i)
        for (int c = 0; c < kClients; ++c)
            done += step(store, *connections[std::size_t(c)], c, i);
    return double(done) / std::chrono::duration<double>(Clock::now() - start).count();
}

// The ops workload straight into the engine, each batch of kDepth journaled as the tool
// socket does it (the changes, the batch's digest and its replies, one writev): the
// journal's CPU cost without the sockets' scheduling noise. `dir`: where the files go.
double in_process_journaled(const std::string& dir) {
    domus::store::Store store;
    auto journal = domus::store::StateJournal::recover(store, dir);
    if (!journal) return 0;
    std::vector<domus::store::Connection*> connections;
    for (int c = 0; c < kClients; ++c)
        connections.push_back(&store.connect({0, true}));
    std::uint64_t done = 0;
    auto start = Clock::now();
    for (int i = 0; Clock::now() - start < kDuration; ++i)
        for (int c = 0; c < kClients; ++c) {
            auto& connection = *connections[std::size_t(c)];
            std::string replies;
            for (int k = 0; k < kDepth; ++k)
                domus::store::encode(store.handle(connection, op(c, i * kDepth + k)), replies);
            store.set_last_reply(connection,
                                 domus::store::ReplyRecord{std::string(8, 'd'), replies});
            (*journal)->commit();
            done += kDepth;
        }
    return double(done) / std::chrono::duration<double>(Clock::now() - start).count();
}

// A run dir on tmpfs, as /run is on a host (the journal's writes go to the page cache
// either way, but a disk filesystem adds its own per-write bookkeeping); empty: the
// default under /tmp. DOMUS_BENCH_RUN_DIR_BASE overrides the base.
std::string tmpfs_run_dir() {
    const char* base = std::getenv("DOMUS_BENCH_RUN_DIR_BASE");
    std::string pattern = std::string(base && *base ? base : "/dev/shm") + "/domus-bench-XXXXXX";
    if (!::mkdtemp(pattern.data())) return {};
    return pattern;
}

}  // namespace

int main(int argc, char** argv) {
    // bench/run FILTER: only figures whose name contains FILTER.
    std::string filter = argc > 1 ? argv[1] : "";
    if (filter.size() &&
        std::string("store_ops_per_s store_txn_per_s store_journal_cost_pct").find(filter) ==
            std::string::npos &&
        filter.find("store") == std::string::npos)
        return 0;
    // The store as it runs, and the same store without its state journal (which then
    // loses its tree when it is restarted): what journaling each acknowledged change
    // costs. The two are measured in turns, best of kRounds each, so that the load of a
    // shared machine weighs on both alike.
    std::string journaled_dir = tmpfs_run_dir(), bare_dir = tmpfs_run_dir();
    struct Figures {
        double ops = 0, unpipelined = 0, txns = 0;
    } journaled, bare;
    {
        domus::test::XenstoredProcess daemon(DOMUS_XENSTORED_BIN, journaled_dir);
        domus::test::XenstoredProcess no_journal(DOMUS_XENSTORED_BIN, bare_dir,
                                                 std::chrono::seconds(30), {"--no-journal"});
        if (!daemon.running() || !no_journal.running()) {
            std::fprintf(stderr, "store-bench: domus-xenstored did not start:\n%s\n%s\n",
                         daemon.log().c_str(), no_journal.log().c_str());
            return 1;
        }
        constexpr int kRounds = 3;
        auto measure = [](const domus::test::XenstoredProcess& d, Figures& best) {
            best.ops = std::max(best.ops, socket_ops(d.tool_socket(), kDepth));
            // One request outstanding per client, as libxenstore does per handle.
            best.unpipelined = std::max(best.unpipelined, socket_ops(d.tool_socket(), 1));
            best.txns = std::max(best.txns, socket_txns(d.tool_socket()));
        };
        for (int round = 0; round < kRounds; ++round) {
            measure(daemon, journaled);
            measure(no_journal, bare);
        }
        daemon.stop();
        no_journal.stop();
    }
    emit("store_ops_per_s", journaled.ops, "ops/s");
    emit("store_ops_per_s_unpipelined", journaled.unpipelined, "ops/s");
    emit("store_txn_per_s", journaled.txns, "txn/s");
    emit("store_ops_per_s_nojournal", bare.ops, "ops/s");
    emit("store_ops_per_s_unpipelined_nojournal", bare.unpipelined, "ops/s");
    emit("store_txn_per_s_nojournal", bare.txns, "txn/s");
    emit("store_journal_cost_pct", 100.0 * (1.0 - journaled.ops / bare.ops), "%");
    emit("store_journal_cost_unpipelined_pct",
         100.0 * (1.0 - journaled.unpipelined / bare.unpipelined), "%");
    emit("store_journal_cost_txn_pct", 100.0 * (1.0 - journaled.txns / bare.txns), "%");
    for (const auto& dir : {journaled_dir, bare_dir})
        if (!dir.empty()) std::filesystem::remove_all(dir);

    emit("store_ops_per_s_inprocess", in_process([](auto& store, auto& connection, int c, int i) {
             for (int k = 0; k < kDepth; ++k)
                 (void)store.handle(connection, op(c, i * kDepth + k));
             return kDepth;
         }),
         "ops/s");
    std::string journal_dir = tmpfs_run_dir();
    if (!journal_dir.empty()) {
        double journaled_ops = in_process_journaled(journal_dir);
        std::filesystem::remove_all(journal_dir);
        emit("store_ops_per_s_inprocess_journal", journaled_ops, "ops/s");
    }
    emit("store_txn_per_s_inprocess", in_process([](auto& store, auto& connection, int c, int) {
             Message start = store.handle(connection, Message{XS_TRANSACTION_START, 0, 0, nul("")});
             auto tx = std::uint32_t(std::stoul(start.payload));
             std::string key = "/bench/t" + std::to_string(c);
             (void)store.handle(connection, Message{XS_WRITE, 0, tx, nul(key + "/a") + "1"});
             (void)store.handle(connection, Message{XS_WRITE, 0, tx, nul(key + "/b") + "2"});
             (void)store.handle(connection, Message{XS_TRANSACTION_END, 0, tx, nul("T")});
             return 1;
         }),
         "txn/s");
    return 0;
}
