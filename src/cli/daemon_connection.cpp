// daemon_request: connect, or start domusd and connect, then one JSON exchange (with the
// progress events before the reply, when asked for).
#include "cli/daemon_connection.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "toolstack/json_socket.hpp"
#include "toolstack/spawn.hpp"

namespace domus::cli {

toolstack::RunDir run_dir() {
    return toolstack::RunDir::from_environment();
}

int fail(const Error& error) {
    std::fprintf(stderr, "domus: %s\n", error.message.c_str());
    return 1;
}

namespace {

// Nobody holds the run directory's daemon lock (no domusd runs there, or is still dying).
bool lock_is_free(const std::string& path) {
    Fd lock(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!lock) return true;
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) return false;
    ::flock(lock.get(), LOCK_UN);
    return true;
}

}  // namespace

Result<nlohmann::json> daemon_request(const nlohmann::json& request) {
    return daemon_request(request, {});
}

Result<nlohmann::json> daemon_request(
    const nlohmann::json& request,
    const std::function<void(const nlohmann::json& event)>& on_progress, int passed_fd) {
    auto dir = run_dir();
    auto fd = toolstack::connect_unix(dir.daemon_socket());
    if (!fd) {
        ::mkdir(dir.root.c_str(), 0700);
        std::vector<std::string> argv{toolstack::executable_dir() + "/domusd", "--run-dir",
                                      dir.root};
        // The daemon's own options (metrics, overcommit, ...) from the administrator's file.
        if (const char* config = std::getenv("DOMUS_DAEMON_CONFIG"); config && *config) {
            argv.push_back("--config");
            argv.push_back(config);
        }
        auto started = toolstack::spawn_detached(argv, dir.daemon_log());
        if (!started) return std::move(started).error();
        // It listens once it has recovered the running domains, which may mean finishing
        // an interrupted snapshot: on a loaded host that takes seconds. Wait while it
        // lives. If it exits, another daemon holds the run directory's lock: wait while
        // that one does (it serves us as well; a killed daemon's lock goes only once all
        // its threads have exited), and start ours again once the lock is free.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        bool exited = false;
        int starts = 1;
        while (!fd && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            fd = toolstack::connect_unix(dir.daemon_socket());
            if (fd) break;
            if (!exited) {
                exited = ::waitpid(*started, nullptr, WNOHANG) == *started;
                continue;
            }
            if (!lock_is_free(dir.daemon_lock())) continue;
            if (starts == 3) break;  // it exits by itself: see its log
            started = toolstack::spawn_detached(argv, dir.daemon_log());
            if (!started) return std::move(started).error();
            exited = false;
            ++starts;
        }
        if (!fd) return make_error("could not start domusd (see {})", dir.daemon_log());
    }
    nlohmann::json sent = request;
    if (on_progress) sent["progress"] = true;
    if (passed_fd >= 0) {
        std::string line = sent.dump() + "\n";
        int fds[] = {passed_fd};
        DOMUS_TRY(done, send_with_fds(fd->get(), line, fds));
        DOMUS_TRY_VOID(send_all(fd->get(), std::string_view(line).substr(done)));
    } else {
        DOMUS_TRY_VOID(toolstack::send_json(fd->get(), sent));
    }
    // An incoming migration answers when the source has finished: no fixed bound.
    auto limit = passed_fd >= 0 ? std::chrono::hours(24) : std::chrono::minutes(5);
    std::string pending;
    nlohmann::json reply;
    for (;;) {
        DOMUS_TRY(message, toolstack::receive_json(fd->get(), pending, limit));
        if (on_progress && message.value("event", "") == "progress") {
            on_progress(message);
            continue;
        }
        reply = std::move(message);
        break;
    }
    if (!reply.value("ok", false))
        return make_error("{}", reply.value("error", std::string("request failed")));
    return reply;
}

}  // namespace domus::cli
