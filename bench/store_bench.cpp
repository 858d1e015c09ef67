// domus-store-bench: XenStore throughput, over the tool socket of a real
// domus-xenstored and directly against an in-process Store (the ceiling). Prints
// `name value unit` lines. Clients pipeline requests (several outstanding before
// reading the replies), as real clients with several handles or threads do.
#include <domus/abi/xs_wire.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

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
    std::string run_dir = tmpfs_run_dir();
    double ops = 0, unpipelined = 0, txns = 0;
    {
        domus::test::XenstoredProcess daemon(DOMUS_XENSTORED_BIN, run_dir);
        if (!daemon.running()) {
            std::fprintf(stderr, "store-bench: domus-xenstored did not start:\n%s\n",
                         daemon.log().c_str());
            return 1;
        }
        ops = socket_ops(daemon.tool_socket(), kDepth);
        emit("store_ops_per_s", ops, "ops/s");
        // One request outstanding per client, as libxenstore does per handle.
        unpipelined = socket_ops(daemon.tool_socket(), 1);
        emit("store_ops_per_s_unpipelined", unpipelined, "ops/s");
        txns = socket_txns(daemon.tool_socket());
        emit("store_txn_per_s", txns, "txn/s");
        daemon.stop();
    }
    {
        // The same store without its state journal (it then loses its tree when it is
        // restarted): what journaling each acknowledged change costs.
        domus::test::XenstoredProcess bare(DOMUS_XENSTORED_BIN, run_dir, std::chrono::seconds(30),
                                           {"--no-journal"});
        if (bare.running()) {
            double bare_ops = socket_ops(bare.tool_socket(), kDepth);
            double bare_unpipelined = socket_ops(bare.tool_socket(), 1);
            double bare_txns = socket_txns(bare.tool_socket());
            emit("store_ops_per_s_nojournal", bare_ops, "ops/s");
            emit("store_ops_per_s_unpipelined_nojournal", bare_unpipelined, "ops/s");
            emit("store_txn_per_s_nojournal", bare_txns, "txn/s");
            emit("store_journal_cost_pct", 100.0 * (1.0 - ops / bare_ops), "%");
            emit("store_journal_cost_unpipelined_pct",
                 100.0 * (1.0 - unpipelined / bare_unpipelined), "%");
            bare.stop();
        }
    }

    if (!run_dir.empty()) std::filesystem::remove_all(run_dir);
    emit("store_ops_per_s_inprocess", in_process([](auto& store, auto& connection, int c, int i) {
             for (int k = 0; k < kDepth; ++k)
                 (void)store.handle(connection, op(c, i * kDepth + k));
             return kDepth;
         }),
         "ops/s");
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
