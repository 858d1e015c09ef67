// `domus image convert [-f FMT] [-O FMT] [-p] [-U] [--force] SRC DST`: a standalone copy of
// a whole disk in raw or qcow2, as qemu-img convert, with a progress line on a terminal.
#include "cli/cmd_image_convert.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/daemon_connection.hpp"
#include "storage/image_convert.hpp"

namespace domus::cli {
namespace {

struct ConvertArgs {
    std::string source;
    std::string target;
    std::string source_format;  // empty: probe
    std::string target_format = "qcow2";
    std::string cluster_size = "64K";
    bool progress = false;
    bool quiet = false;
    bool force_share = false;
    bool force = false;
};

// One line on stderr, rewritten in place: "  42% 840.0/2000.0 MiB  310.5 MiB/s".
class ProgressLine {
public:
    void update(const storage::ConvertProgress& p) {
        auto now = std::chrono::steady_clock::now();
        if (!drawn_) start_ = now;
        int percent = p.total == 0 ? 100 : static_cast<int>(p.done * 100 / p.total);
        // Redrawn at most ten times a second, and whenever the percentage moves.
        if (drawn_ && percent == percent_ && p.done != p.total && now - last_ < kInterval) return;
        double seconds = std::chrono::duration<double>(now - start_).count();
        double mib = static_cast<double>(p.done) / (1 << 20);
        double rate = seconds > 0 ? mib / seconds : 0;
        std::fprintf(stderr, "\r%4d%% %.1f/%.1f MiB  %.1f MiB/s   ", percent, mib,
                     static_cast<double>(p.total) / (1 << 20), rate);
        std::fflush(stderr);
        drawn_ = true;
        percent_ = percent;
        last_ = now;
    }
    // The line stays, and the shell prompt starts below it.
    void finish() {
        if (drawn_) std::fputc('\n', stderr);
        drawn_ = false;
    }

private:
    static constexpr std::chrono::milliseconds kInterval{100};
    bool drawn_ = false;
    int percent_ = -1;
    std::chrono::steady_clock::time_point start_, last_;
};

int run_convert(const ConvertArgs& args) {
    storage::ConvertOptions options;
    if (!args.source_format.empty()) {
        auto format = storage::parse_format(args.source_format);
        if (!format) return fail(format.error());
        options.source_format = *format;
    }
    auto target_format = storage::parse_format(args.target_format);
    if (!target_format) return fail(target_format.error());
    options.target_format = *target_format;
    auto cluster_size = storage::parse_size(args.cluster_size);
    if (!cluster_size) return fail(cluster_size.error());
    options.cluster_size = *cluster_size;
    options.share_source = args.force_share;
    options.overwrite = args.force;

    bool show = !args.quiet && (args.progress || ::isatty(STDERR_FILENO));
    ProgressLine line;
    storage::ConvertProgressFn progress;
    if (show) progress = [&line](const storage::ConvertProgress& p) { line.update(p); };
    auto converted = storage::convert_image(args.source, args.target, options, progress);
    line.finish();
    if (!converted) return fail(converted.error());
    return 0;
}

}  // namespace

void add_image_convert_command(CLI::App& image, int& status) {
    auto args = std::make_shared<ConvertArgs>();
    auto* command = image.add_subcommand(
        "convert", "Copy a whole disk (backing chain included) into a new raw or qcow2 image");
    command->add_option("source", args->source, "Image to read")->required();
    command->add_option("target", args->target, "New image to write")->required();
    command->add_option("-f,--source-format", args->source_format,
                        "raw or qcow2 (default: detected)");
    command->add_option("-O,--target-format", args->target_format, "qcow2 (default) or raw");
    command->add_option("--cluster-size", args->cluster_size,
                        "qcow2 target cluster size, 512 to 2M (default 64K)");
    command->add_flag("-p,--progress", args->progress,
                      "Show the progress line even when stderr is not a terminal");
    command->add_flag("-q,--quiet", args->quiet, "No progress line, even on a terminal");
    command->add_flag("-U,--force-share", args->force_share,
                      "Read the source even while a domain writes it (the copy may be torn)");
    command->add_flag("--force", args->force,
                      "Replace an existing target (never one a domain has open)");
    command->callback([args, &status] { status = run_convert(*args); });
}

}  // namespace domus::cli
