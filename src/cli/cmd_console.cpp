// `domus console`: relays the terminal and the monitor's console stream; the terminal
// is put in raw mode so the guest sees every key, and Ctrl-] (0x1d) detaches.
#include "cli/cmd_console.hpp"

#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include "cli/daemon_connection.hpp"
#include "toolstack/json_socket.hpp"

namespace domus::cli {
namespace {

constexpr char kDetach = 0x1d;  // Ctrl-]

// Raw terminal mode for the life of the object.
class RawTerminal {
public:
    RawTerminal() {
        if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &saved_) < 0) return;
        termios raw = saved_;
        ::cfmakeraw(&raw);
        active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    ~RawTerminal() {
        if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }

private:
    termios saved_{};
    bool active_ = false;
};

}  // namespace

int attach_console(const std::string& control_socket) {
    auto fd = toolstack::connect_unix(control_socket);
    if (!fd) return fail(fd.error());
    if (auto sent = toolstack::send_json(fd->get(), {{"op", "console"}}); !sent)
        return fail(sent.error());
    std::string pending;
    auto reply = toolstack::receive_json(fd->get(), pending, std::chrono::seconds(5));
    if (!reply) return fail(reply.error());
    if (!reply->value("ok", false))
        return fail(make_error("{}", reply->value("error", std::string("console refused"))));
    if (!pending.empty()) [[maybe_unused]]
        auto n = ::write(STDOUT_FILENO, pending.data(), pending.size());
    RawTerminal terminal;
    bool input_open = true;
    for (;;) {
        pollfd fds[2] = {{fd->get(), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
        if (::poll(fds, input_open ? 2 : 1, -1) < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        char buffer[4096];
        if (fds[0].revents) {
            ssize_t n = ::read(fd->get(), buffer, sizeof(buffer));
            if (n <= 0) return 0;  // the domain ended
            [[maybe_unused]] auto w = ::write(STDOUT_FILENO, buffer, std::size_t(n));
        }
        if (input_open && fds[1].revents) {
            ssize_t n = ::read(STDIN_FILENO, buffer, sizeof(buffer));
            if (n <= 0) {
                input_open = false;
                continue;
            }
            for (ssize_t i = 0; i < n; ++i)
                if (buffer[i] == kDetach) {
                    if (i) [[maybe_unused]]
                        auto w = ::write(fd->get(), buffer, std::size_t(i));
                    return 0;
                }
            [[maybe_unused]] auto w = ::write(fd->get(), buffer, std::size_t(n));
        }
    }
}

void add_console_command(CLI::App& app, int& status) {
    auto domain = std::make_shared<std::string>();
    auto* command = app.add_subcommand("console", "Attach to a domain's console (Ctrl-] detaches)");
    command->add_option("domain", *domain, "Domain name or ID")->required();
    command->callback([domain, &status] {
        auto reply = daemon_request({{"op", "console"}, {"domain", *domain}});
        status = reply ? attach_console((*reply)["control"]) : fail(reply.error());
    });
}

}  // namespace domus::cli
