// `domus image create PATH SIZE [--format qcow2|raw] [--backing FILE] [--cluster-size N]`
// and `domus image info PATH [--json]` (and `convert`, in its own file): disk images
// without a daemon, like qemu-img.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/cmd_image_convert.hpp"
#include "cli/daemon_connection.hpp"
#include "storage/image_create.hpp"
#include "storage/image_info.hpp"

namespace domus::cli {
namespace {

struct CreateArgs {
    std::string path;
    std::string size;  // optional with --backing
    std::string format = "qcow2";
    std::string backing;
    std::string cluster_size = "64K";
};

int run_create(const CreateArgs& args) {
    using storage::Format;
    std::optional<std::uint64_t> size;
    if (!args.size.empty()) {
        auto parsed = storage::parse_size(args.size);
        if (!parsed) return fail(parsed.error());
        size = *parsed;
    }
    auto cluster_size = storage::parse_size(args.cluster_size);
    if (!cluster_size) return fail(cluster_size.error());
    Format format = args.format == "raw" ? Format::raw : Format::qcow2;
    std::optional<std::string> backing;
    if (!args.backing.empty()) backing = args.backing;
    if (auto created = storage::create_image(args.path, size, format, backing, *cluster_size);
        !created)
        return fail(created.error());
    auto info = storage::image_info(args.path);
    if (!info) return fail(info.error());
    std::printf("Formatting '%s', fmt=%s size=%llu%s%s\n", args.path.c_str(), args.format.c_str(),
                static_cast<unsigned long long>(info->virtual_size),
                backing ? " backing_file=" : "", backing ? backing->c_str() : "");
    return 0;
}

nlohmann::json to_json(const storage::ImageInfo& info) {
    nlohmann::json out = {{"filename", info.path},
                          {"format", storage::format_name(info.format)},
                          {"virtual-size", info.virtual_size},
                          {"actual-size", info.allocated_bytes}};
    if (info.format == storage::Format::qcow2) {
        out["cluster-size"] = info.cluster_size;
        out["format-specific"] = {{"type", "qcow2"},
                                  {"data",
                                   {{"compat", info.qcow2_version == 2 ? "0.10" : "1.1"},
                                    {"refcount-bits", info.refcount_bits},
                                    {"corrupt", info.corrupt}}}};
        if (!info.backing_file.empty()) out["backing-filename"] = info.backing_file;
        if (!info.backing_format.empty()) out["backing-filename-format"] = info.backing_format;
        if (info.dirty) out["dirty-flag"] = true;
    }
    return out;
}

}  // namespace

void add_image_command(CLI::App& app, int& status) {
    auto* image = app.add_subcommand("image", "Create and inspect disk images (raw, qcow2)");
    image->require_subcommand(1);

    auto create = std::make_shared<CreateArgs>();
    auto* create_command = image->add_subcommand("create", "Create a disk image");
    create_command->add_option("path", create->path, "Image file to create")->required();
    create_command->add_option("size", create->size,
                               "Virtual size: 4096, 512M, 10G... (default: the backing size)");
    create_command->add_option("-f,--format", create->format, "qcow2 (default) or raw")
        ->check(CLI::IsMember({"qcow2", "raw"}));
    create_command->add_option("-b,--backing", create->backing,
                               "Backing image (relative paths: from the new image's directory)");
    create_command->add_option("--cluster-size", create->cluster_size,
                               "qcow2 cluster size, 512 to 2M (default 64K)");
    create_command->callback([create, &status] { status = run_create(*create); });

    auto info_path = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    auto* info_command =
        image->add_subcommand("info", "Show an image's format, size and backing file");
    info_command->add_option("path", *info_path, "Image file")->required();
    info_command->add_flag("--json", *json, "Machine-readable output");
    info_command->callback([info_path, json, &status] {
        auto info = storage::image_info(*info_path);
        if (!info) {
            status = fail(info.error());
            return;
        }
        if (*json)
            std::printf("%s\n", to_json(*info).dump(2).c_str());
        else
            std::fputs(storage::render_info(*info).c_str(), stdout);
        status = 0;
    });

    add_image_convert_command(*image, status);
}

}  // namespace domus::cli
