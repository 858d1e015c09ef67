// `domus top [-b] [-d SECONDS] [-i N]`: xentop. On a terminal the screen is redrawn every
// delay until `q` (or Ctrl-C); with -b (or when stdout is not a terminal) each frame is
// printed after the last, as `xentop -b` does.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <optional>

#include "base/fd.hpp"
#include "cli/daemon_connection.hpp"
#include "toolstack/top_view.hpp"

namespace domus::cli {
namespace {

struct TopOptions {
    bool batch = false;
    double delay = 3.0;  // xentop's default
    int iterations = 0;  // 0: until stopped
};

// Keys without Enter and without echo while top runs; the terminal as it was afterwards.
class RawKeys {
public:
    RawKeys() {
        if (::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
        termios raw = saved_;
        raw.c_lflag &= tcflag_t(~(ICANON | ECHO));
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    ~RawKeys() {
        if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }
    RawKeys(const RawKeys&) = delete;
    RawKeys& operator=(const RawKeys&) = delete;
    bool active() const noexcept { return active_; }

private:
    termios saved_{};
    bool active_ = false;
};

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

Result<toolstack::StatsSnapshot> sample() {
    DOMUS_TRY(reply, daemon_request({{"op", "stats"}}));
    try {
        return reply.get<toolstack::StatsSnapshot>();
    } catch (const nlohmann::json::exception& error) {
        return make_error("domusd sent unreadable figures: {}", error.what());
    }
}

void draw(const toolstack::StatsSnapshot& now, const toolstack::StatsSnapshot* before,
          double seconds, bool live) {
    std::string frame;
    if (live) {
        std::time_t wall = std::time(nullptr);
        char clock[16];
        std::strftime(clock, sizeof clock, "%H:%M:%S", std::localtime(&wall));
        frame += "\x1b[H\x1b[2J";  // home, clear: one redraw per frame
        frame += fmt::format("domus top - {}\n", clock);
        for (const auto& line : toolstack::top_summary(now))
            frame += line + "\n";
        frame += "\n";
    }
    frame += toolstack::top_header() + "\n";
    for (const auto& line : toolstack::top_rows(now, before, seconds))
        frame += line + "\n";
    if (live) frame += "\n(q quits)";
    std::fwrite(frame.data(), 1, frame.size(), stdout);
    std::fflush(stdout);
}

// Waits `delay` seconds for a key or a signal: false when top should stop.
bool wait_for_next(double delay, int signal_fd, bool keys) {
    pollfd fds[2] = {{signal_fd, POLLIN, 0}, {keys ? STDIN_FILENO : -1, POLLIN, 0}};
    double deadline = now_seconds() + delay;
    for (;;) {
        double left = deadline - now_seconds();
        if (left <= 0) return true;
        if (::poll(fds, 2, int(left * 1000) + 1) < 0 && errno != EINTR) return false;
        if (fds[0].revents) return false;
        if (fds[1].revents) {
            char key = 0;
            if (::read(STDIN_FILENO, &key, 1) == 1 && (key == 'q' || key == 'Q')) return false;
        }
    }
}

int run_top(const TopOptions& options) {
    bool live = !options.batch && ::isatty(STDOUT_FILENO);
    // Ctrl-C and friends end the loop, so the terminal gets its settings back.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    ::sigprocmask(SIG_BLOCK, &signals, nullptr);
    Fd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC));
    std::optional<RawKeys> keys;
    if (live && ::isatty(STDIN_FILENO)) keys.emplace();

    std::optional<toolstack::StatsSnapshot> before;
    double before_at = 0;
    for (int frame = 1;; ++frame) {
        auto now = sample();
        if (!now) {
            if (live) std::printf("\n");
            return fail(now.error());
        }
        double at = now_seconds();
        if (!live && frame > 1) std::printf("\n");  // a blank line between batch frames
        draw(*now, before ? &*before : nullptr, at - before_at, live);
        if (options.iterations > 0 && frame >= options.iterations) break;
        if (!wait_for_next(options.delay, signal_fd.get(), keys && keys->active())) break;
        before = std::move(*now);
        before_at = at;
    }
    if (live) std::printf("\n");
    return 0;
}

}  // namespace

void add_top_command(CLI::App& app, int& status) {
    auto options = std::make_shared<TopOptions>();
    auto* command = app.add_subcommand("top", "Domains' resource use, live (xentop)");
    command->add_flag("-b,--batch", options->batch, "Print frames one after another");
    command->add_option("-d,--delay", options->delay, "Seconds between frames (default 3)")
        ->check(CLI::Range(0.1, 3600.0));
    command
        ->add_option("-i,--iterations", options->iterations,
                     "Stop after this many frames (default: until q or Ctrl-C)")
        ->check(CLI::Range(1, 1000000));
    command->callback([options, &status] { status = run_top(*options); });
}

}  // namespace domus::cli
