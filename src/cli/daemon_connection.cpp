// daemon_request: connect, or start domusd and connect, then one JSON exchange.
#include "cli/daemon_connection.hpp"

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

Result<nlohmann::json> daemon_request(const nlohmann::json& request, int passed_fd) {
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
        // lives (another daemon that won the race serves us as well).
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        bool exited = false;
        while (!fd && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            fd = toolstack::connect_unix(dir.daemon_socket());
            if (!fd && !exited && ::waitpid(*started, nullptr, WNOHANG) == *started) {
                exited = true;  // give a winner of the race a moment, then stop
                deadline =
                    std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(2));
            }
        }
        if (!fd) return make_error("could not start domusd (see {})", dir.daemon_log());
    }
    if (passed_fd >= 0) {
        std::string line = request.dump() + "\n";
        int fds[] = {passed_fd};
        DOMUS_TRY(sent, send_with_fds(fd->get(), line, fds));
        DOMUS_TRY_VOID(send_all(fd->get(), std::string_view(line).substr(sent)));
    } else {
        DOMUS_TRY_VOID(toolstack::send_json(fd->get(), request));
    }
    std::string pending;
    // An incoming migration answers when the source has finished: no fixed bound.
    auto limit = passed_fd >= 0 ? std::chrono::hours(24) : std::chrono::minutes(5);
    DOMUS_TRY(reply, toolstack::receive_json(fd->get(), pending, limit));
    if (!reply.value("ok", false))
        return make_error("{}", reply.value("error", std::string("request failed")));
    return reply;
}

}  // namespace domus::cli
