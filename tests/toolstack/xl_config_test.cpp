// Tests for toolstack/xl_config: the xl.cfg syntax, defaults and limits, error messages
// (file, line, key), overrides, loading from disk, round trips, and hostile input.
#include "toolstack/xl_config.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "xl_values.hpp"

namespace domus::toolstack {
namespace {

// The error text of a parse that must fail.
std::string error_of(std::string_view text, std::string_view file = "idle.cfg") {
    auto r = parse_xl_config(text, file);
    EXPECT_FALSE(r.ok()) << "parsed unexpectedly:\n" << text;
    return r.ok() ? std::string() : r.error().message;
}

// The spec of a parse that must succeed.
DomainSpec spec_of(std::string_view text) {
    auto r = parse_xl_config(text, "t.cfg");
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r->spec : DomainSpec{};
}

constexpr std::string_view kTypical = R"(# A typical PV guest.
name = "web1"           # trailing comment
type = 'pv'
memory = 256
maxmem = 512
vcpus = 2
maxvcpus = 4
kernel = "/var/lib/domus/idle.elf"
cmdline = 'console=hvc0 loglevel=7 msg="hi\tthere"'
uuid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"

on_crash = "preserve"; on_reboot = 'rename-restart'
disk = [ 'format=raw, vdev=xvda, access=rw, target=/images/web1.img',
         # the data disk
         "/images/data.qcow2,qcow2,xvdb,ro",
       ]
vif = [
    'mac=00:16:3e:00:00:01, bridge=br0',
]
)";

TEST(XlConfig, ParsesATypicalFile) {
    auto r = parse_xl_config(kTypical, "web1.cfg");
    ASSERT_TRUE(r.ok()) << r.error().message;
    const DomainSpec& s = r->spec;
    EXPECT_EQ(s.name, "web1");
    EXPECT_EQ(s.memory_mib, 256u);
    EXPECT_EQ(s.maxmem_mib, 512u);
    EXPECT_EQ(s.vcpus, 2u);
    EXPECT_EQ(s.maxvcpus, 4u);
    EXPECT_EQ(s.kernel, "/var/lib/domus/idle.elf");
    EXPECT_EQ(s.cmdline, "console=hvc0 loglevel=7 msg=\"hi\tthere\"");
    EXPECT_EQ(s.uuid, "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
    EXPECT_EQ(s.on_poweroff, Action::Destroy);
    EXPECT_EQ(s.on_reboot, Action::RenameRestart);
    EXPECT_EQ(s.on_crash, Action::Preserve);
    EXPECT_EQ(s.on_watchdog, Action::Destroy);
    EXPECT_EQ(s.disk,
              (std::vector<std::string>{"format=raw, vdev=xvda, access=rw, target=/images/web1.img",
                                        "/images/data.qcow2,qcow2,xvdb,ro"}));
    EXPECT_EQ(s.vif, (std::vector<std::string>{"mac=00:16:3e:00:00:01, bridge=br0"}));
    EXPECT_TRUE(s.extra_keys.empty());
    EXPECT_TRUE(r->warnings.empty());
}

TEST(XlConfig, ChannelsAreCheckedAndRoundTrip) {
    auto spec = spec_of(
        "name=\"c\"\nkernel=\"/k\"\n"
        "channel = [ 'name=org.domus.echo, connection=socket, path=/run/e.sock' ]\n");
    ASSERT_EQ(spec.channel.size(), 1u);
    EXPECT_EQ(spec.channel[0], "name=org.domus.echo, connection=socket, path=/run/e.sock");
    EXPECT_EQ(spec_of(to_xl_config(spec)), spec);
    std::string error =
        error_of("name=\"c\"\nkernel=\"/k\"\nchannel = [ 'name=x,connection=pty' ]\n");
    EXPECT_NE(error.find("idle.cfg:3: channel:"), std::string::npos) << error;
    EXPECT_NE(error.find("connection: pty is not supported"), std::string::npos) << error;
}

TEST(XlConfig, AppliesXlDefaults) {
    DomainSpec s = spec_of("name = 'idle'\nkernel = 'idle.elf'\n");
    EXPECT_EQ(s.memory_mib, 32u);
    EXPECT_EQ(s.maxmem_mib, 32u);
    EXPECT_EQ(s.vcpus, 1u);
    EXPECT_EQ(s.maxvcpus, 1u);
    EXPECT_EQ(s.cmdline, "");
    EXPECT_FALSE(s.uuid.has_value());
    EXPECT_EQ(s.on_poweroff, Action::Destroy);
    EXPECT_EQ(s.on_reboot, Action::Restart);
    EXPECT_EQ(s.on_crash, Action::Destroy);
    EXPECT_EQ(s.on_watchdog, Action::Destroy);
    EXPECT_TRUE(s.disk.empty());
    EXPECT_TRUE(s.vif.empty());

    // maxmem and maxvcpus follow their partners when absent.
    DomainSpec t = spec_of("name='a'\nkernel='k'\nmemory=128\nvcpus=3\n");
    EXPECT_EQ(t.maxmem_mib, 128u);
    EXPECT_EQ(t.maxvcpus, 3u);
}

TEST(XlConfig, AcceptsSeparatorsLineEndingsAndEscapes) {
    DomainSpec s = spec_of(
        "name='a'; kernel='k';;memory=64\r\n\r\n  \t# only a comment\n"
        "extra = \"q\\\"uote \\\\ \\x41\\101 \\'\"");
    EXPECT_EQ(s.memory_mib, 64u);
    EXPECT_EQ(s.cmdline, "q\"uote \\ AA '");
    // Both quote kinds take the escapes.
    EXPECT_EQ(spec_of("name='a'\nkernel='k\\n\\x7e'").kernel, "k\n~");
}

TEST(XlConfig, NumbersWithSurroundingWhitespaceAndBases) {
    EXPECT_EQ(spec_of("name='a'\nkernel='k'\n   memory   =\t 64 \t  \n").memory_mib, 64u);
    EXPECT_EQ(spec_of("name='a'\nkernel='k'\nmemory=64# comment right after\n").memory_mib, 64u);
    EXPECT_EQ(spec_of("name='a'\nkernel='k'\nmemory=0x40\n").memory_mib, 64u);
    EXPECT_EQ(spec_of("name='a'\nkernel='k'\nmemory=0100\n").memory_mib, 64u);
    // xl reads numbers with strtol, so a quoted number counts, blanks and all.
    EXPECT_EQ(spec_of("name='a'\nkernel='k'\nmemory=\" 64 \"\n").memory_mib, 64u);
}

TEST(XlConfig, RejectsNegativeAndOverflowingNumbers) {
    EXPECT_EQ(error_of("name='a'\nkernel='k'\nmemory = -5\n"),
              "idle.cfg:3: memory: negative numbers are not allowed, got -5");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\nmemory = 99999999999999999999\n"),
              "idle.cfg:3: memory: number 99999999999999999999 is out of range");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\nmemory = 9223372036854775808\n"),
              "idle.cfg:3: memory: number 9223372036854775808 is out of range");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\nmemory = 9223372036854775807\n"),
              "idle.cfg:3: memory: 9223372036854775807 is out of range 4..65536");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\nmemory = 12abc\n"),
              "idle.cfg:3: memory: invalid number \"12abc\"");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\nmemory = 0x\n"),
              "idle.cfg:3: memory: invalid number \"0x\"");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\nmemory = 09\n"),
              "idle.cfg:3: memory: invalid number \"09\"");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\nmemory = '-5'\n"),
              "idle.cfg:3: memory: expected a number, got \"-5\"");
}

TEST(XlConfig, ErrorsNameFileLineAndKey) {
    EXPECT_EQ(error_of("name = 'a'\nkernel = 'k'\n\nmemory = \"lots\"\n"),
              "idle.cfg:4: memory: expected a number, got \"lots\"");
    EXPECT_EQ(error_of("name='a'\n#\n#\n#\n#\n#\nkernel = \"/boot/idle.elf\n"),
              "idle.cfg:7: kernel: unterminated string");
    EXPECT_EQ(error_of("kernel = 'k'\n"), "idle.cfg: name: required key missing");
    EXPECT_EQ(error_of("name = 'a'\n"), "idle.cfg: kernel: required key missing");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\non_crash = \"explode\"\n"),
              "idle.cfg:3: on_crash: \"explode\" is not one of destroy, restart, preserve, "
              "rename-restart, coredump-destroy, coredump-restart, soft-reset");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\nmemory 64\n"),
              "idle.cfg:3: memory: expected '=' after the key");
    EXPECT_EQ(error_of("name='a'\n@kernel='k'\n"), "idle.cfg:2: expected a key, got \"@\"");
    EXPECT_EQ(error_of("name='a'\nkernel='k' 'x'\n"),
              "idle.cfg:2: kernel: unexpected \"'\" after the value");
    EXPECT_EQ(error_of("name='a'\nkernel=\n"), "idle.cfg:2: kernel: expected a value");
    EXPECT_EQ(error_of("name='a'\nkernel=/boot/k\n"),
              "idle.cfg:2: kernel: expected a number, a quoted string or a list, got /boot/k");
    EXPECT_EQ(error_of("name='a'\nkernel='\\q'\n"),
              "idle.cfg:2: kernel: invalid escape \"\\\\q\" in a string");
    EXPECT_EQ(error_of("name='a'\nkernel='\\x4'\n"),
              "idle.cfg:2: kernel: \\x in a string needs two hex digits");
    EXPECT_EQ(error_of("name='a'\nkernel='a\\0b'\n"),
              "idle.cfg:2: kernel: NUL (\\0) is not allowed in a string");
    EXPECT_EQ(error_of("name='a'\nkernel='a\\x00b'\n"),
              "idle.cfg:2: kernel: NUL (\\x00) is not allowed in a string");
    EXPECT_EQ(error_of("name='a'\nkernel='\\777'\n"),
              "idle.cfg:2: kernel: octal escape \\777 is larger than a byte");
    EXPECT_EQ(error_of(std::string("name='a'\nkernel='a\0b'\n", 21)),
              "idle.cfg:2: kernel: a NUL byte is not allowed in a string");
    EXPECT_EQ(error_of("name='a'\nkernel=5\n"), "idle.cfg:2: kernel: expected a string, got 5");
    EXPECT_EQ(error_of("name='a'\nkernel=''\n"), "idle.cfg:2: kernel: must not be empty");
}

TEST(XlConfig, ListErrorsReportTheLineOfTheKey) {
    // The bad item is on line 6; the key `disk` starts on line 4.
    EXPECT_EQ(error_of("name='a'\nkernel='k'\n\ndisk = [\n  'x',\n  'y' 'z',\n]\n"),
              "idle.cfg:4: disk: expected ',' or ']' in the list, got \"'\"");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\ndisk = [ 'x',\n 'y',\n"),
              "idle.cfg:3: disk: unterminated list (no ']')");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\ndisk = [ 'x',\n\n 'y\n]"),
              "idle.cfg:3: disk: unterminated string");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\ndisk = [ , ]\n"),
              "idle.cfg:3: disk: expected a value");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\ndisk = 'x'\n"),
              "idle.cfg:3: disk: expected a list of strings, got \"x\"");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\nvif = [ 'x',\n 5 ]\n"),
              "idle.cfg:3: vif: item 2: expected a string, got 5");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\nvif = [ [ 'x' ] ]\n"),
              "idle.cfg:3: vif: item 1: expected a string, got a list");
    EXPECT_EQ(error_of("name='a'\nkernel='k'\nx = " + std::string(40, '[') + "\n"),
              "idle.cfg:3: x: lists nested deeper than 32");
    // Empty lists are lists.
    EXPECT_TRUE(spec_of("name='a'\nkernel='k'\ndisk=[]\nvif=[ # none\n]\n").disk.empty());
}

TEST(XlConfig, ValidatesNames) {
    EXPECT_EQ(spec_of("name='Web-1_a.b'\nkernel='k'").name, "Web-1_a.b");
    EXPECT_EQ(spec_of("name='" + std::string(64, 'n') + "'\nkernel='k'").name.size(), 64u);
    EXPECT_EQ(error_of("name='" + std::string(65, 'n') + "'\nkernel='k'"),
              "idle.cfg:1: name: longer than 64 characters");
    EXPECT_EQ(error_of("name=''\nkernel='k'"), "idle.cfg:1: name: must not be empty");
    EXPECT_EQ(error_of("name='a b'\nkernel='k'"),
              "idle.cfg:1: name: \"a b\" has a character outside [A-Za-z0-9_.-]");
    EXPECT_EQ(error_of("name='123'\nkernel='k'"),
              "idle.cfg:1: name: \"123\" is all digits, which reads as a domain ID");
    EXPECT_EQ(error_of("name=123\nkernel='k'"), "idle.cfg:1: name: expected a string, got 123");
}

TEST(XlConfig, ValidatesLimits) {
    const std::string base = "name='a'\nkernel='k'\n";
    EXPECT_EQ(error_of(base + "memory=3"), "idle.cfg:3: memory: 3 is out of range 4..65536");
    EXPECT_EQ(spec_of(base + "memory=65536").memory_mib, 65536u);
    EXPECT_EQ(error_of(base + "memory=65537"),
              "idle.cfg:3: memory: 65537 is out of range 4..65536");
    EXPECT_EQ(error_of(base + "memory=64\nmaxmem=32"),
              "idle.cfg:4: maxmem: 32 is less than memory (64)");
    EXPECT_EQ(error_of(base + "vcpus=0"), "idle.cfg:3: vcpus: 0 is out of range 1..64");
    EXPECT_EQ(error_of(base + "vcpus=65"), "idle.cfg:3: vcpus: 65 is out of range 1..64");
    EXPECT_EQ(error_of(base + "vcpus=4\nmaxvcpus=2"),
              "idle.cfg:4: maxvcpus: 2 is less than vcpus (4)");
    EXPECT_EQ(error_of(base + "maxvcpus=65"), "idle.cfg:3: maxvcpus: 65 is out of range 1..64");
    EXPECT_EQ(error_of(base + "memory=[64]"), "idle.cfg:3: memory: expected a number, got a list");
}

TEST(XlConfig, ValidatesUuidTypeAndBuilder) {
    const std::string base = "name='a'\nkernel='k'\n";
    EXPECT_EQ(spec_of(base + "uuid='ABCDEF01-2345-6789-abcd-ef0123456789'").uuid,
              "ABCDEF01-2345-6789-abcd-ef0123456789");
    EXPECT_EQ(error_of(base + "uuid='3f2504e0-4f89-11d3-9a0c-0305e82c330'"),
              "idle.cfg:3: uuid: \"3f2504e0-4f89-11d3-9a0c-0305e82c330\" is not 8-4-4-4-12 hex "
              "digits");
    EXPECT_EQ(error_of(base + "uuid='3f2504e0x4f89-11d3-9a0c-0305e82c3301'"),
              "idle.cfg:3: uuid: \"3f2504e0x4f89-11d3-9a0c-0305e82c3301\" is not 8-4-4-4-12 hex "
              "digits");
    EXPECT_EQ(error_of(base + "uuid='3f2504e0-4f89-11d3-9a0c-0305e82c3301-'"),
              "idle.cfg:3: uuid: \"3f2504e0-4f89-11d3-9a0c-0305e82c3301-\" is not 8-4-4-4-12 "
              "hex digits");
    EXPECT_EQ(error_of(base + "type='hvm'"),
              "idle.cfg:3: type: \"hvm\" is not supported: Domus runs pv guests only");
    EXPECT_EQ(error_of(base + "type='pvh'"),
              "idle.cfg:3: type: \"pvh\" is not supported: Domus runs pv guests only");
    EXPECT_EQ(error_of(base + "type='xen'"),
              "idle.cfg:3: type: \"xen\" is not one of pv, pvh, hvm");
    EXPECT_EQ(error_of(base + "builder='hvm'"),
              "idle.cfg:3: builder: \"hvm\" is not supported: Domus runs pv guests only");
    auto r = parse_xl_config(base + "builder='generic'", "b.cfg");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->warnings, std::vector<std::string>{
                               "b.cfg:3: builder: deprecated, write type = \"pv\" instead"});
}

TEST(XlConfig, EveryActionName) {
    const std::pair<const char*, Action> cases[] = {
        {"destroy", Action::Destroy},
        {"restart", Action::Restart},
        {"preserve", Action::Preserve},
        {"rename-restart", Action::RenameRestart},
        {"coredump-destroy", Action::CoredumpDestroy},
        {"coredump-restart", Action::CoredumpRestart},
        {"soft-reset", Action::SoftReset},
    };
    for (auto [name, action] : cases) {
        EXPECT_EQ(action_name(action), name);
        DomainSpec s = spec_of(std::string("name='a'\nkernel='k'\non_watchdog='") + name + "'");
        EXPECT_EQ(s.on_watchdog, action) << name;
    }
    EXPECT_EQ(error_of("name='a'\nkernel='k'\non_reboot='rename_restart'").substr(0, 53),
              "idle.cfg:3: on_reboot: \"rename_restart\" is not one of");
}

TEST(XlConfig, CommandLineAliasesAndRoot) {
    const std::string base = "name='a'\nkernel='k'\n";
    EXPECT_EQ(spec_of(base + "extra='console=hvc0'").cmdline, "console=hvc0");
    EXPECT_EQ(spec_of(base + "cmdline='console=hvc0'\nroot='/dev/xvda1 ro'").cmdline,
              "console=hvc0 root=/dev/xvda1 ro");
    EXPECT_EQ(spec_of(base + "extra='quiet'\nroot='/dev/xvda1'").cmdline, "quiet root=/dev/xvda1");
    EXPECT_EQ(spec_of(base + "root='/dev/xvda1'").cmdline, "root=/dev/xvda1");
    EXPECT_EQ(error_of(base + "cmdline='a'\nextra='b'"),
              "idle.cfg:4: extra: cannot be combined with cmdline (idle.cfg:3)");
    EXPECT_EQ(error_of(base + "root=7"), "idle.cfg:3: root: expected a string, got 7");
}

TEST(XlConfig, UnknownKeysAreKeptWithWarnings) {
    auto r = parse_xl_config(
        "name='a'\nkernel='k'\ncpus_soft = \"0-3,^1\"\nvfb = [ 'vnc=1', [ 2, 'x' ] ]\n"
        "nomigrate = 1\n",
        "u.cfg");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->warnings, (std::vector<std::string>{"u.cfg:3: cpus_soft: unknown key, ignored",
                                                     "u.cfg:4: vfb: unknown key, ignored",
                                                     "u.cfg:5: nomigrate: unknown key, ignored"}));
    const auto& extra = r->spec.extra_keys;
    ASSERT_EQ(extra.size(), 3u);
    EXPECT_EQ(extra.at("cpus_soft"), str("0-3,^1"));
    EXPECT_EQ(extra.at("vfb"), list({str("vnc=1"), list({num(2), str("x")})}));
    EXPECT_EQ(extra.at("nomigrate"), num(1));
    EXPECT_EQ(extra.at("nomigrate").line, 5);
}

TEST(XlConfig, DuplicateKeysLastOneWins) {
    auto r = parse_xl_config(
        "name='a'\nkernel='k'\nmemory=64\nfoo=1\nname='b'\nmemory=128\nfoo='two'\n", "d.cfg");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->spec.name, "b");
    EXPECT_EQ(r->spec.memory_mib, 128u);
    EXPECT_EQ(r->spec.extra_keys.at("foo"), str("two"));
    EXPECT_EQ(r->warnings, std::vector<std::string>{"d.cfg:7: foo: unknown key, ignored"});
    // An earlier bad value does not matter once a later one replaces it, as in xl.
    EXPECT_EQ(spec_of("name='a'\nkernel='k'\nmemory='lots'\nmemory=64").memory_mib, 64u);
}

TEST(XlConfig, OverridesApplyToASpec) {
    DomainSpec s = spec_of("name='a'\nkernel='k'\nmemory=64\nextra='quiet'\n");
    ASSERT_TRUE(apply_override(s, "memory=256").ok());
    EXPECT_EQ(s.memory_mib, 256u);
    EXPECT_EQ(s.maxmem_mib, 256u);                     // it was tied to memory, so it follows
    ASSERT_TRUE(apply_override(s, "name=web2").ok());  // a bare word is a string
    EXPECT_EQ(s.name, "web2");
    ASSERT_TRUE(apply_override(s, "kernel = \"/boot/k 2\"").ok());
    EXPECT_EQ(s.kernel, "/boot/k 2");
    ASSERT_TRUE(apply_override(s, "extra=console=hvc0").ok());  // replaces, no alias clash
    EXPECT_EQ(s.cmdline, "console=hvc0");
    ASSERT_TRUE(apply_override(s, "vcpus=0x4; on_crash=preserve").ok());
    EXPECT_EQ(s.vcpus, 4u);
    EXPECT_EQ(s.maxvcpus, 4u);
    EXPECT_EQ(s.on_crash, Action::Preserve);
    ASSERT_TRUE(apply_override(s, "disk=['/img/a,raw,xvda,rw']").ok());
    EXPECT_EQ(s.disk, std::vector<std::string>{"/img/a,raw,xvda,rw"});
    ASSERT_TRUE(apply_override(s, "cpus=all").ok());
    EXPECT_EQ(s.cpus, std::vector<std::string>{"all"});

    DomainSpec before = s;
    auto bad_value = apply_override(s, "memory=lots");
    ASSERT_FALSE(bad_value.ok());
    EXPECT_EQ(bad_value.error().message,
              "override memory=lots: memory: expected a number, got \"lots\"");
    auto bad_key = apply_override(s, "9lives=1");
    ASSERT_FALSE(bad_key.ok());
    EXPECT_EQ(bad_key.error().message, "override 9lives=1: expected a key, got \"9\"");
    auto no_equals = apply_override(s, "memory");
    ASSERT_FALSE(no_equals.ok());
    EXPECT_EQ(no_equals.error().message, "override memory: memory: expected '=' after the key");
    auto empty = apply_override(s, "  ");
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.error().message, "override \"  \": expected key=value");
    auto range = apply_override(s, "maxmem=8");
    ASSERT_FALSE(range.ok());
    EXPECT_EQ(range.error().message, "override maxmem=8: maxmem: 8 is less than memory (256)");
    EXPECT_EQ(s, before);  // failed overrides leave the spec alone
}

// A scratch directory removed at the end of the test.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "xlcfg-XXXXXX").string();
        path_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }
    std::string write(const std::string& name, const std::string& text) const {
        std::string p = path_ + "/" + name;
        std::ofstream(p) << text;
        return p;
    }

private:
    std::string path_;
};

TEST(XlConfig, LoadsAFileWithOverrides) {
    TempDir dir;
    ASSERT_FALSE(dir.path().empty());
    std::string path = dir.write("idle.cfg", "name='idle'\nkernel='idle.elf'\nmemory=64\n");

    auto r = load_xl_config(path, {"memory=128", "name=idle2"});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->spec.name, "idle2");
    EXPECT_EQ(r->spec.memory_mib, 128u);
    EXPECT_EQ(r->spec.maxmem_mib, 128u);    // xl semantics: maxmem was never given
    EXPECT_EQ(r->spec.kernel, "idle.elf");  // kept as written, like xl
    EXPECT_EQ(resolve_kernel_path(r->spec, dir.path()), dir.path() + "/idle.elf");
    EXPECT_EQ(resolve_kernel_path(r->spec, dir.path() + "/"), dir.path() + "/idle.elf");
    DomainSpec absolute = r->spec;
    absolute.kernel = "/boot/idle.elf";
    EXPECT_EQ(resolve_kernel_path(absolute, dir.path()), "/boot/idle.elf");

    auto bad = load_xl_config(path, {"memory=lots"});
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().message,
              path + ": override memory=lots: memory: expected a number, got \"lots\"");

    std::string broken = dir.write("broken.cfg", "name='x'\nkernel='k'\nvcpus = 'many'\n");
    auto bad_file = load_xl_config(broken, {});
    ASSERT_FALSE(bad_file.ok());
    EXPECT_EQ(bad_file.error().message, broken + ":3: vcpus: expected a number, got \"many\"");

    auto missing = load_xl_config(dir.path() + "/nope.cfg", {});
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message.find(dir.path() + "/nope.cfg"), std::string::npos);
    EXPECT_NE(missing.error().message.find("No such file"), std::string::npos);
}

TEST(XlConfig, RoundTripsThroughXlSyntax) {
    DomainSpec minimal;
    minimal.name = "idle";
    minimal.kernel = "idle.elf";

    DomainSpec full = spec_of(kTypical);
    full.extra_keys["cpus_soft"] = str("0-3,^1");  // an xl key Domus does not interpret
    full.extra_keys["vfb"] = list({str("vnc=1"), list({num(2), list({})}), num(0)});
    full.extra_keys["weird"] = str("tab\there \"q\" 'a' \\ \x01\x7f\n end");

    DomainSpec actions = minimal;
    actions.on_poweroff = Action::CoredumpDestroy;
    actions.on_reboot = Action::SoftReset;
    actions.on_crash = Action::CoredumpRestart;
    actions.on_watchdog = Action::Preserve;
    actions.memory_mib = 65536;
    actions.maxmem_mib = 65536;
    actions.vcpus = 64;
    actions.maxvcpus = 64;
    actions.cmdline = "root=/dev/xvda1 init=\"/bin/sh\"";
    actions.vif = {"", "bridge=br1"};
    actions.disk = {"/a,raw,xvda", ""};

    for (const DomainSpec& spec : {minimal, full, actions}) {
        std::string text = to_xl_config(spec);
        auto r = parse_xl_config(text, "round.cfg");
        ASSERT_TRUE(r.ok()) << r.error().message << "\n" << text;
        EXPECT_EQ(r->spec, spec) << text;
        EXPECT_EQ(to_xl_config(r->spec), text);
    }
}

// Random edits of a valid file must never crash the parser, and every failure must say
// which file it is about.
TEST(XlConfig, SurvivesRandomMutations) {
    const std::string seed_text = std::string(kTypical) + "foo = [ 1, 'x', [ \"y\\x41\" ], ]\n";
    constexpr std::string_view kAlphabet = "\"'[],;=#\\\n\r\t x0-9azAZ_.\x01\x7f\x80\xff";
    std::mt19937 rng(20240607);
    int parsed = 0;
    for (int i = 0; i < 5000; ++i) {
        std::string text = seed_text;
        int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits && !text.empty(); ++e) {
            std::size_t at = rng() % text.size();
            switch (rng() % 5) {
                case 0:
                    text.erase(at, 1 + rng() % 8);
                    break;
                case 1:
                    text.insert(at, 1, kAlphabet[rng() % kAlphabet.size()]);
                    break;
                case 2:
                    text[at] = kAlphabet[rng() % kAlphabet.size()];
                    break;
                case 3:
                    text.insert(at, text.substr(rng() % text.size(), rng() % 16));
                    break;
                case 4:
                    text.resize(at);
                    break;
            }
        }
        if (rng() % 50 == 0) text.insert(rng() % (text.size() + 1), std::string(100, '['));
        auto r = parse_xl_config(text, "fuzz.cfg");
        if (r.ok()) {
            ++parsed;
            auto again = parse_xl_config(to_xl_config(r->spec), "again.cfg");
            ASSERT_TRUE(again.ok()) << again.error().message;
            EXPECT_EQ(again->spec, r->spec);
        } else {
            ASSERT_NE(r.error().message.find("fuzz.cfg"), std::string::npos) << r.error().message;
        }
    }
    // Both outcomes must actually occur, or the mutations test nothing.
    EXPECT_GT(parsed, 100);
    EXPECT_LT(parsed, 4900);
}

}  // namespace
}  // namespace domus::toolstack
