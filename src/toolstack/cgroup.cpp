// A domain's CPU cgroup: finding the cpu hierarchy, creating and removing the domain's
// group, moving threads into it and writing the weight and cap (cgroup.hpp).
#include "toolstack/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "base/fd.hpp"

namespace domus::toolstack {
namespace {

constexpr long kCgroupSuperMagic = 0x27e0eb;     // CGROUP_SUPER_MAGIC
constexpr long kCgroup2SuperMagic = 0x63677270;  // CGROUP2_SUPER_MAGIC

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> out;
    while (true) {
        auto at = text.find(separator);
        out.push_back(text.substr(0, at));
        if (at == std::string_view::npos) return out;
        text.remove_prefix(at + 1);
    }
}

// mountinfo escapes space, tab, newline and backslash in paths as \ooo.
std::string unescape(std::string_view path) {
    std::string out;
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (path[i] == '\\' && i + 3 < path.size()) {
            out += char((path[i + 1] - '0') * 64 + (path[i + 2] - '0') * 8 + (path[i + 3] - '0'));
            i += 3;
        } else {
            out += path[i];
        }
    }
    return out;
}

Result<void> write_text(const std::string& path, const std::string& text) {
    // O_CREAT: a cgroup file exists already; a test's fake tree gets it created.
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return errno_error("open " + path);
    ssize_t n = ::write(fd.get(), text.data(), text.size());
    if (n < 0) return errno_error(fmt::format("write \"{}\" to {}", text, path));
    if (std::size_t(n) != text.size())
        return make_error("write \"{}\" to {}: short write", text, path);
    return {};
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
}

Result<void> make_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) < 0 && errno != EEXIST) return errno_error("mkdir " + path);
    return {};
}

// Enables the cpu controller for `dir`'s children (v2), unless it is already.
Result<void> delegate_cpu(const std::string& dir) {
    std::string file = dir + "/cgroup.subtree_control";
    std::string enabled = read_text(file);
    std::replace(enabled.begin(), enabled.end(), '\n', ' ');
    for (auto word : split(enabled, ' '))
        if (word == "cpu") return {};
    return write_text(file, "+cpu");
}

// rmdir of a cgroup: EBUSY while its last threads are still exiting (a destroyed
// monitor's), so that is retried for a while. A test's fake tree holds real files,
// which go first (cgroupfs refuses to unlink its files, and needs no such help).
Result<void> remove_group(const std::string& path) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (;;) {
        if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return {};
        if (errno == ENOTEMPTY) {
            if (DIR* dir = ::opendir(path.c_str())) {
                while (dirent* e = ::readdir(dir))
                    if (e->d_type == DT_REG) ::unlink((path + "/" + e->d_name).c_str());
                ::closedir(dir);
            }
            if (::rmdir(path.c_str()) == 0) return {};
        }
        if (errno != EBUSY || std::chrono::steady_clock::now() > deadline)
            return errno_error("rmdir " + path);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

Result<void> check_parent(const std::string& parent) {
    if (parent.empty() || parent.front() == '/')
        return make_error("cgroup parent \"{}\": must be a relative path", parent);
    for (auto part : split(parent, '/'))
        if (part.empty() || part == "." || part == "..")
            return make_error("cgroup parent \"{}\": bad component \"{}\"", parent, part);
    return {};
}

}  // namespace

Result<CpuCgroupMount> find_cpu_cgroup_mount(std::string_view mountinfo) {
    std::optional<CpuCgroupMount> unified;
    for (auto line : split(mountinfo, '\n')) {
        auto fields = split(line, ' ');
        auto dash = std::find(fields.begin(), fields.end(), "-");
        if (fields.size() < 5 || dash == fields.end() || fields.end() - dash < 4) continue;
        std::string_view type = dash[1];
        std::string mount_point = unescape(fields[4]);
        if (type == "cgroup") {
            for (auto option : split(dash[3], ','))
                if (option == "cpu") return CpuCgroupMount{CgroupVersion::V1, mount_point};
        } else if (type == "cgroup2" && !unified) {
            unified = CpuCgroupMount{CgroupVersion::V2, mount_point};
        }
    }
    if (unified) return *unified;
    return make_error("no cgroup hierarchy with the cpu controller in /proc/self/mountinfo");
}

Result<CpuCgroupMount> detect_cpu_cgroup_mount() {
    DOMUS_TRY(mount, find_cpu_cgroup_mount(read_text("/proc/self/mountinfo")));
    struct statfs fs {};
    if (::statfs(mount.root.c_str(), &fs) < 0) return errno_error("statfs " + mount.root);
    long expected = mount.version == CgroupVersion::V1 ? kCgroupSuperMagic : kCgroup2SuperMagic;
    if (long(fs.f_type) != expected)
        return make_error("{} is not a cgroup{} file system", mount.root,
                          mount.version == CgroupVersion::V1 ? "" : "2");
    return mount;
}

std::uint64_t weight_to_shares(std::uint32_t weight) {
    return std::uint64_t(std::clamp<std::uint32_t>(weight, 1, kMaxWeight)) * 4;
}

std::uint32_t weight_to_cpu_weight(std::uint32_t weight) {
    return std::clamp<std::uint32_t>(std::uint32_t(std::uint64_t(weight) * 100 / kDefaultWeight), 1,
                                     10000);
}

std::uint64_t cap_to_quota_us(std::uint32_t cap) {
    return std::uint64_t(cap) * kCapPeriodUs / 100;
}

Result<DomainCgroup> DomainCgroup::create(const CpuCgroupMount& mount, const std::string& parent,
                                          std::uint16_t domid) {
    DOMUS_TRY_VOID(check_parent(parent));
    bool v2 = mount.version == CgroupVersion::V2;
    std::string dir = mount.root;
    if (v2) DOMUS_TRY_VOID(delegate_cpu(dir));
    for (auto part : split(parent, '/')) {
        dir += "/" + std::string(part);
        DOMUS_TRY_VOID(make_dir(dir));
        if (v2) DOMUS_TRY_VOID(delegate_cpu(dir));
    }
    DomainCgroup group(mount.version, dir + "/dom" + std::to_string(domid));
    if (::mkdir(group.path_.c_str(), 0755) == 0)
        group.at_defaults_ = true;
    else if (errno != EEXIST)
        return errno_error("mkdir " + group.path_);
    if (v2) {
        // The threaded child first: it turns the domain group into a threaded domain,
        // which may hold the monitor process and still delegate the cpu controller.
        std::string vcpus = group.vcpu_group();
        DOMUS_TRY_VOID(make_dir(vcpus));
        if (read_text(vcpus + "/cgroup.type").rfind("threaded", 0) != 0)
            DOMUS_TRY_VOID(write_text(vcpus + "/cgroup.type", "threaded"));
        DOMUS_TRY_VOID(delegate_cpu(group.path_));
    }
    return group;
}

std::string DomainCgroup::vcpu_group() const {
    return version_ == CgroupVersion::V1 ? path_ : path_ + "/vcpus";
}

Result<void> DomainCgroup::add_monitor(pid_t pid) const {
    if (version_ == CgroupVersion::V1) return {};
    return write_text(path_ + "/cgroup.procs", std::to_string(pid));
}

Result<void> DomainCgroup::add_vcpu_thread(pid_t tid) const {
    if (version_ == CgroupVersion::V1) return write_text(path_ + "/tasks", std::to_string(tid));
    return write_text(vcpu_group() + "/cgroup.threads", std::to_string(tid));
}

Result<void> DomainCgroup::set(const SchedParams& params) {
    // A group just made holds the kernel's defaults, which are the default weight and no
    // cap: writing them again costs ~0.2 ms of domusd's CPU per domain (setting a CFS
    // bandwidth walks every CPU's runqueue under its lock).
    bool defaults = params.weight == kDefaultWeight && params.cap == 0;
    if (at_defaults_ && defaults) return {};
    at_defaults_ = false;
    if (version_ == CgroupVersion::V1) {
        DOMUS_TRY_VOID(
            write_text(path_ + "/cpu.shares", std::to_string(weight_to_shares(params.weight))));
        DOMUS_TRY_VOID(write_text(path_ + "/cpu.cfs_period_us", std::to_string(kCapPeriodUs)));
        std::string quota = params.cap ? std::to_string(cap_to_quota_us(params.cap)) : "-1";
        return write_text(path_ + "/cpu.cfs_quota_us", quota);
    }
    // The weight on the domain group: it competes with the other domains' groups. The
    // cap on the vCPU threads only, as Xen's (the monitor's device threads are dom0's work).
    DOMUS_TRY_VOID(
        write_text(path_ + "/cpu.weight", std::to_string(weight_to_cpu_weight(params.weight))));
    std::string quota = params.cap ? std::to_string(cap_to_quota_us(params.cap)) : "max";
    return write_text(vcpu_group() + "/cpu.max", quota + " " + std::to_string(kCapPeriodUs));
}

Result<void> DomainCgroup::remove() const {
    if (version_ == CgroupVersion::V2) DOMUS_TRY_VOID(remove_group(vcpu_group()));
    return remove_group(path_);
}

std::string default_cgroup_parent(const std::string& run_dir) {
    std::string_view dir = run_dir;
    while (dir.size() > 1 && dir.back() == '/')
        dir.remove_suffix(1);
    if (dir == "/run/domus") return "domus";
    std::string out = "domus";
    for (char c : dir) {
        bool plain = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_';
        out += plain ? c : '-';
    }
    constexpr std::size_t kMaxName = 200;  // a file name's 255, with room
    if (out.size() > kMaxName)
        out = out.substr(0, kMaxName - 17) + fmt::format("-{:016x}", std::hash<std::string>{}(out));
    return out;
}

std::vector<std::uint16_t> domain_cgroups(const CpuCgroupMount& mount, const std::string& parent) {
    std::vector<std::uint16_t> out;
    if (!check_parent(parent)) return out;
    std::error_code error;
    for (const auto& entry :
         std::filesystem::directory_iterator(mount.root + "/" + parent, error)) {
        std::string name = entry.path().filename().string();
        unsigned domid = 0;
        if (!entry.is_directory() || !name.starts_with("dom") ||
            std::sscanf(name.c_str(), "dom%u", &domid) != 1 || domid == 0 || domid > 0xFFFF ||
            name != "dom" + std::to_string(domid))
            continue;
        out.push_back(std::uint16_t(domid));
    }
    std::sort(out.begin(), out.end());
    return out;
}

Result<void> remove_cgroup_parent(const CpuCgroupMount& mount, const std::string& parent) {
    DOMUS_TRY_VOID(check_parent(parent));
    std::string dir = mount.root + "/" + parent;
    for (std::uint16_t domid : domain_cgroups(mount, parent)) {
        std::string dom = dir + "/dom" + std::to_string(domid);
        if (mount.version == CgroupVersion::V2) DOMUS_TRY_VOID(remove_group(dom + "/vcpus"));
        DOMUS_TRY_VOID(remove_group(dom));
    }
    return remove_group(dir);  // its last component only
}

}  // namespace domus::toolstack
