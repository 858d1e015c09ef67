// Tests for monitor/elf_loader: images built in memory, accepted and loaded when good,
// rejected with a message naming the problem when not, and never a crash on mutated input.
#include "monitor/elf_loader.hpp"

#include <elf.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "monitor/guest_memory.hpp"

#include <domus/abi/start_info.h>

namespace domus::monitor {
namespace {

using Bytes = std::vector<std::byte>;

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kBase = 2ull << 20;  // the guest's load window
constexpr std::uint64_t kLimit = 16ull << 20;
constexpr std::uint64_t kText = kBase;            // R+X, 0x2000 bytes
constexpr std::uint64_t kData = kBase + 0x10000;  // R+W, 0x100 file bytes, 0x3000 in memory
constexpr std::uint64_t kHypercallPage = kText + 0x1000;
constexpr unsigned kTextPhdr = 0, kDataPhdr = 1, kNotePhdr = 2;  // in a default image

// ---- Image builder --------------------------------------------------------------------

struct SegmentSpec {
    std::uint32_t type = PT_LOAD;
    std::uint64_t addr = 0;
    std::uint64_t file_size = 0;
    std::uint64_t memory_size = 0;
    std::uint32_t flags = PF_R;
};

struct NoteSpec {
    std::string owner;  // namesz counts the terminating NUL
    std::uint32_t type = 0;
    Bytes desc;
};

NoteSpec hypercall_note(std::uint64_t page) {
    Bytes desc(8);
    std::memcpy(desc.data(), &page, 8);
    return {"Xen", XEN_ELFNOTE_HYPERCALL_PAGE, desc};
}

// Program headers: `segments` in order, then one PT_NOTE holding `notes` (if any).
struct ImageSpec {
    std::uint64_t entry = kText + 0x40;
    std::vector<SegmentSpec> segments{{PT_LOAD, kText, 0x2000, 0x2000, PF_R | PF_X},
                                      {PT_LOAD, kData, 0x100, 0x3000, PF_R | PF_W}};
    std::vector<NoteSpec> notes{hypercall_note(kHypercallPage)};
};

// Segment bytes are never zero, so .bss zeroing is visible.
std::byte pattern(std::size_t segment, std::uint64_t i) {
    return std::byte((i + 17 * segment) % 251 + 1);
}

template <class T>
void append(Bytes& out, const T& value) {
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    out.insert(out.end(), p, p + sizeof(T));
}

void pad_to(Bytes& out, std::size_t alignment) {
    while (out.size() % alignment)
        out.push_back(std::byte{0});
}

Bytes encode_notes(const std::vector<NoteSpec>& notes) {
    Bytes out;
    for (const auto& note : notes) {
        append(out, Elf64_Nhdr{std::uint32_t(note.owner.size() + 1),
                               std::uint32_t(note.desc.size()), note.type});
        const auto* name = reinterpret_cast<const std::byte*>(note.owner.c_str());
        out.insert(out.end(), name, name + note.owner.size() + 1);
        pad_to(out, 4);
        out.insert(out.end(), note.desc.begin(), note.desc.end());
        pad_to(out, 4);
    }
    return out;
}

Bytes build(const ImageSpec& spec) {
    std::size_t phnum = spec.segments.size() + (spec.notes.empty() ? 0 : 1);
    Bytes notes = encode_notes(spec.notes);
    std::uint64_t notes_at = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);

    Elf64_Ehdr header{};
    std::memcpy(header.e_ident, ELFMAG, SELFMAG);
    header.e_ident[EI_CLASS] = ELFCLASS64;
    header.e_ident[EI_DATA] = ELFDATA2LSB;
    header.e_ident[EI_VERSION] = EV_CURRENT;
    header.e_type = ET_EXEC;
    header.e_machine = EM_X86_64;
    header.e_version = EV_CURRENT;
    header.e_entry = spec.entry;
    header.e_phoff = sizeof(Elf64_Ehdr);
    header.e_ehsize = sizeof(Elf64_Ehdr);
    header.e_phentsize = sizeof(Elf64_Phdr);
    header.e_phnum = std::uint16_t(phnum);

    // Segment data follows the notes, each 16-byte aligned.
    std::vector<std::uint64_t> offsets;
    std::uint64_t at = notes_at + notes.size();
    for (const auto& segment : spec.segments) {
        at = (at + 15) & ~15ull;
        offsets.push_back(at);
        at += segment.file_size;
    }

    Bytes out;
    append(out, header);
    for (std::size_t i = 0; i < spec.segments.size(); ++i) {
        const auto& s = spec.segments[i];
        append(out, Elf64_Phdr{s.type, s.flags, offsets[i], s.addr, s.addr, s.file_size,
                               s.memory_size, 0x1000});
    }
    if (!spec.notes.empty()) {
        append(out, Elf64_Phdr{PT_NOTE, PF_R, notes_at, 0, 0, notes.size(), notes.size(), 4});
    }
    out.insert(out.end(), notes.begin(), notes.end());
    for (std::size_t i = 0; i < spec.segments.size(); ++i) {
        pad_to(out, 16);
        for (std::uint64_t b = 0; b < spec.segments[i].file_size; ++b)
            out.push_back(pattern(i, b));
    }
    return out;
}

Bytes good_image() {
    return build(ImageSpec{});
}

// ---- In-place edits of a built image ----------------------------------------------------

template <class T, class F>
void patch_at(Bytes& image, std::uint64_t offset, F edit) {
    T value;
    std::memcpy(&value, image.data() + offset, sizeof(T));
    edit(value);
    std::memcpy(image.data() + offset, &value, sizeof(T));
}

template <class F>
void patch_header(Bytes& image, F edit) {
    patch_at<Elf64_Ehdr>(image, 0, edit);
}

template <class F>
void patch_phdr(Bytes& image, unsigned index, F edit) {
    patch_at<Elf64_Phdr>(image, sizeof(Elf64_Ehdr) + index * sizeof(Elf64_Phdr), edit);
}

void move_segment(Bytes& image, unsigned index, std::uint64_t addr) {
    patch_phdr(image, index, [&](Elf64_Phdr& p) { p.p_vaddr = p.p_paddr = addr; });
}

std::uint64_t first_note_offset(Bytes& image) {
    std::uint64_t offset = 0;
    patch_phdr(image, kNotePhdr, [&](Elf64_Phdr& p) { offset = p.p_offset; });
    return offset;
}

Result<ElfImage> parse(const Bytes& image) {
    return parse_elf(image, kBase, kLimit);
}

::testing::AssertionResult rejected_with(const Result<ElfImage>& result, const std::string& text) {
    if (result.ok()) return ::testing::AssertionFailure() << "image was accepted";
    if (result.error().message.find(text) == std::string::npos)
        return ::testing::AssertionFailure()
               << "message \"" << result.error().message << "\" lacks \"" << text << "\"";
    return ::testing::AssertionSuccess();
}

// ---- Accepted images ------------------------------------------------------------------

TEST(ParseElf, AcceptsAGoodImage) {
    Bytes image = good_image();
    auto result = parse(image);
    ASSERT_TRUE(result.ok()) << result.error().message;
    const ElfImage& elf = *result;
    EXPECT_EQ(elf.entry, kText + 0x40);
    EXPECT_EQ(elf.hypercall_page, kHypercallPage);
    EXPECT_EQ(elf.image_end, kData + 0x3000);
    ASSERT_EQ(elf.segments.size(), 2u);
    EXPECT_EQ(elf.segments[0].guest_addr, kText);
    EXPECT_EQ(elf.segments[0].file_size, 0x2000u);
    EXPECT_EQ(elf.segments[0].memory_size, 0x2000u);
    EXPECT_TRUE(elf.segments[0].executable);
    EXPECT_EQ(elf.segments[1].guest_addr, kData);
    EXPECT_EQ(elf.segments[1].file_size, 0x100u);
    EXPECT_EQ(elf.segments[1].memory_size, 0x3000u);
    EXPECT_FALSE(elf.segments[1].executable);
    for (std::size_t i = 0; i < elf.segments.size(); ++i) {
        EXPECT_EQ(image[elf.segments[i].file_offset], pattern(i, 0));
    }
}

TEST(ParseElf, AcceptsSegmentsTouchingBothEndsOfTheWindow) {
    ImageSpec spec;
    spec.segments[1] = {PT_LOAD, kLimit - 0x3000, 0x100, 0x3000, PF_R | PF_W};
    auto result = parse(build(spec));
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_EQ(result->image_end, kLimit);
}

TEST(ParseElf, AcceptsAHypercallPageInBss) {
    ImageSpec spec;
    spec.notes = {hypercall_note(kData + 0x1000)};  // past the data's file bytes
    auto result = parse(build(spec));
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_EQ(result->hypercall_page, kData + 0x1000);
}

TEST(ParseElf, FindsTheXenNoteAfterForeignNotes) {
    ImageSpec spec;
    spec.notes = {{"GNU", NT_GNU_BUILD_ID, Bytes(20, std::byte{0xab})},
                  {"Xen", XEN_ELFNOTE_HYPERCALL_PAGE, Bytes(3)},  // other owner's type numbers
                  hypercall_note(kHypercallPage)};
    auto result = parse(build(spec));
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_EQ(result->hypercall_page, kHypercallPage);
}

TEST(ParseElf, IgnoresEmptyLoadSegmentsAndOtherTypes) {
    ImageSpec spec;
    spec.segments.push_back({PT_LOAD, kMax - 10, 0, 0, PF_R});  // memsz 0: nothing to load
    spec.segments.push_back({PT_GNU_STACK, 0, 0, 0, PF_R | PF_W});
    auto result = parse(build(spec));
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_EQ(result->segments.size(), 2u);
}

TEST(ParseElf, AcceptsSegmentsInAnyOrder) {
    ImageSpec spec;
    std::swap(spec.segments[0], spec.segments[1]);
    auto result = parse(build(spec));
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_EQ(result->image_end, kData + 0x3000);
}

// ---- Rejected images: one row per problem -------------------------------------------------

struct RejectCase {
    const char* name;
    std::function<Bytes()> make;
    const char* message;  // a substring of the error
};

std::function<Bytes()> with_spec(std::function<void(ImageSpec&)> edit) {
    return [edit] {
        ImageSpec spec;
        edit(spec);
        return build(spec);
    };
}

std::function<Bytes()> with_image(std::function<void(Bytes&)> edit) {
    return [edit] {
        Bytes image = good_image();
        edit(image);
        return image;
    };
}

std::function<Bytes()> with_header(std::function<void(Elf64_Ehdr&)> edit) {
    return with_image([edit](Bytes& image) { patch_header(image, edit); });
}

std::function<Bytes()> with_phdr(unsigned index, std::function<void(Elf64_Phdr&)> edit) {
    return with_image([index, edit](Bytes& image) { patch_phdr(image, index, edit); });
}

std::function<Bytes()> with_first_note(std::function<void(Elf64_Nhdr&)> edit) {
    return with_image(
        [edit](Bytes& image) { patch_at<Elf64_Nhdr>(image, first_note_offset(image), edit); });
}

const char* const kNoNote = "no XEN_ELFNOTE_HYPERCALL_PAGE note";

const RejectCase kRejectCases[] = {
    // The file and its header.
    {"EmptyFile", [] { return Bytes{}; }, "not an ELF file"},
    {"TruncatedHeader", with_image([](Bytes& i) { i.resize(40); }), "not an ELF file"},
    {"BadMagic", with_header([](Elf64_Ehdr& h) { h.e_ident[EI_MAG1] = 'X'; }), "not an ELF file"},
    {"Class32", with_header([](Elf64_Ehdr& h) { h.e_ident[EI_CLASS] = ELFCLASS32; }), "64-bit"},
    {"BigEndian", with_header([](Elf64_Ehdr& h) { h.e_ident[EI_DATA] = ELFDATA2MSB; }),
     "little-endian"},
    {"MachineAarch64", with_header([](Elf64_Ehdr& h) { h.e_machine = EM_AARCH64; }),
     "is not x86-64"},
    {"TypeDyn", with_header([](Elf64_Ehdr& h) { h.e_type = ET_DYN; }), "ET_DYN"},
    {"TypeRel", with_header([](Elf64_Ehdr& h) { h.e_type = ET_REL; }), "not an executable"},
    {"TypeCore", with_header([](Elf64_Ehdr& h) { h.e_type = ET_CORE; }), "not an executable"},
    {"PhentsizeWrong", with_header([](Elf64_Ehdr& h) { h.e_phentsize = 32; }),
     "no usable program headers"},
    {"NoProgramHeaders", with_header([](Elf64_Ehdr& h) { h.e_phnum = 0; }),
     "no usable program headers"},
    {"PhoffPastEnd", with_header([](Elf64_Ehdr& h) { h.e_phoff = 1 << 20; }),
     "program headers lie outside the file"},
    {"PhoffWraps", with_header([](Elf64_Ehdr& h) { h.e_phoff = kMax - 8; }),
     "program headers lie outside the file"},
    {"PhnumPastEnd", with_header([](Elf64_Ehdr& h) { h.e_phnum = 0xffff; }),
     "program headers lie outside the file"},
    // Program headers.
    {"Interp", with_spec([](ImageSpec& s) {
         s.segments.push_back({PT_INTERP, 0, 16, 16});
     }),
     "dynamically linked"},
    {"Dynamic", with_spec([](ImageSpec& s) {
         s.segments.push_back({PT_DYNAMIC, 0, 16, 16});
     }),
     "dynamically linked"},
    {"FileszOverMemsz", with_phdr(kDataPhdr, [](Elf64_Phdr& p) { p.p_filesz = 0x4000; }),
     "exceeds memory size"},
    {"FileRangePastEnd", with_phdr(kTextPhdr, [](Elf64_Phdr& p) { p.p_offset = 1 << 20; }),
     "lies outside the"},
    {"FileRangeWraps", with_phdr(kTextPhdr, [](Elf64_Phdr& p) { p.p_offset = kMax - 0x10; }),
     "lies outside the"},
    {"VaddrNotPaddr", with_phdr(kTextPhdr, [](Elf64_Phdr& p) { p.p_vaddr += 0x1000; }), "maps 1:1"},
    {"BelowLoadBase", with_image([](Bytes& i) { move_segment(i, kDataPhdr, kBase - 0x1000); }),
     "lies outside guest memory"},
    {"AtLoadLimit", with_image([](Bytes& i) { move_segment(i, kDataPhdr, kLimit); }),
     "lies outside guest memory"},
    {"StraddlesLoadLimit",
     with_image([](Bytes& i) { move_segment(i, kDataPhdr, kLimit - 0x1000); }),
     "overlaps the monitor's pages"},
    {"AddressOverflow", with_image([](Bytes& i) { move_segment(i, kDataPhdr, kMax - 0xfff); }),
     "lies outside guest memory"},
    {"MemszOverflow", with_phdr(kDataPhdr, [](Elf64_Phdr& p) { p.p_memsz = kMax; }),
     "lies outside guest memory"},
    {"OverlappingSegments",
     with_image([](Bytes& i) { move_segment(i, kDataPhdr, kText + 0x1000); }), "overlap"},
    {"NestedSegment", with_spec([](ImageSpec& s) {
         s.segments.push_back({PT_LOAD, kText + 0x800, 0, 0x10});
     }),
     "overlap"},
    {"NoLoadableSegment", with_spec([](ImageSpec& s) {
         for (auto& segment : s.segments)
             segment.type = PT_NULL;
     }),
     "no loadable segments"},
    // Entry point.
    {"EntryInDataSegment", with_header([](Elf64_Ehdr& h) { h.e_entry = kData; }), "entry point"},
    {"EntryPastText", with_header([](Elf64_Ehdr& h) { h.e_entry = kText + 0x2000; }),
     "entry point"},
    {"EntryZero", with_header([](Elf64_Ehdr& h) { h.e_entry = 0; }), "entry point"},
    // Hypercall page note.
    {"NoNotes", with_spec([](ImageSpec& s) { s.notes.clear(); }), kNoNote},
    {"NoteOwnerNotXen", with_spec([](ImageSpec& s) { s.notes[0].owner = "Xem"; }), kNoNote},
    {"NoteWrongType", with_spec([](ImageSpec& s) { s.notes[0].type = 3; }), kNoNote},
    {"NoteDescTooShort", with_spec([](ImageSpec& s) { s.notes[0].desc.resize(4); }), kNoNote},
    {"HypercallPageMisaligned",
     with_spec([](ImageSpec& s) { s.notes = {hypercall_note(kHypercallPage + 8)}; }),
     "hypercall page"},
    {"HypercallPageOutsideSegments",
     with_spec([](ImageSpec& s) { s.notes = {hypercall_note(kText + 0x8000)}; }), "hypercall page"},
    {"HypercallPageCrossesSegmentEnd",
     with_spec([](ImageSpec& s) { s.segments[0].file_size = s.segments[0].memory_size = 0x1800; }),
     "hypercall page"},
    // Malformed notes: the walk stops without reading past the note segment.
    {"NoteNameszHuge", with_first_note([](Elf64_Nhdr& n) { n.n_namesz = 0xffffffff; }), kNoNote},
    {"NoteDescszHuge", with_first_note([](Elf64_Nhdr& n) { n.n_descsz = 0xfffffffd; }), kNoNote},
    {"NoteDescszPastSegment", with_first_note([](Elf64_Nhdr& n) { n.n_descsz = 16; }), kNoNote},
    {"NoteSegmentTruncatedInHeader",
     with_phdr(kNotePhdr, [](Elf64_Phdr& p) { p.p_filesz = sizeof(Elf64_Nhdr) - 4; }), kNoNote},
    {"NoteSegmentTruncatedInDesc",
     with_phdr(kNotePhdr, [](Elf64_Phdr& p) { p.p_filesz = sizeof(Elf64_Nhdr) + 4 + 4; }), kNoNote},
    {"NoteSegmentPastEnd", with_phdr(kNotePhdr, [](Elf64_Phdr& p) { p.p_offset = 1 << 20; }),
     "note segment"},
    {"NoteSegmentSizeWraps", with_phdr(kNotePhdr, [](Elf64_Phdr& p) { p.p_filesz = kMax; }),
     "note segment"},
};

class ParseElfRejects : public ::testing::TestWithParam<RejectCase> {};

TEST_P(ParseElfRejects, WithAMessageNamingTheProblem) {
    EXPECT_TRUE(rejected_with(parse(GetParam().make()), GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(Images, ParseElfRejects, ::testing::ValuesIn(kRejectCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ParseElf, RejectsEveryTruncation) {
    Bytes image = good_image();
    for (std::size_t size = 0; size < image.size(); ++size) {
        Bytes prefix(image.begin(), image.begin() + std::ptrdiff_t(size));
        EXPECT_FALSE(parse(prefix).ok()) << "prefix of " << size << " bytes";
    }
}

// ---- Robustness: random mutations ----------------------------------------------------------

// What every accepted image must satisfy, whatever bytes it came from.
void expect_sane(const ElfImage& elf, const Bytes& file) {
    ASSERT_FALSE(elf.segments.empty());
    for (const auto& s : elf.segments) {
        EXPECT_GE(s.guest_addr, kBase);
        EXPECT_LE(s.memory_size, kLimit - s.guest_addr);
        EXPECT_LE(s.file_size, s.memory_size);
        EXPECT_TRUE(range_within(s.file_offset, s.file_size, file.size()));
        EXPECT_LE(s.guest_addr + s.memory_size, elf.image_end);
    }
    EXPECT_LE(elf.image_end, kLimit);
    EXPECT_EQ(elf.hypercall_page % 4096, 0u);
}

TEST(ParseElf, SurvivesRandomMutations) {
    const Bytes original = good_image();
    auto memory = GuestMemory::create(kLimit);
    ASSERT_TRUE(memory.ok()) << memory.error().message;
    std::mt19937_64 rng(0xD0D05);
    constexpr std::uint8_t kInteresting[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
    int accepted = 0;
    for (int round = 0; round < 20000; ++round) {
        Bytes image = original;
        int edits = 1 + int(rng() % 8);
        for (int e = 0; e < edits; ++e) {
            // Mostly the headers and notes, where the parser's decisions are made.
            std::size_t limit = rng() % 4 ? 0x140 : image.size();
            std::size_t at = rng() % limit;
            image[at] = std::byte(rng() % 2 ? kInteresting[rng() % 6] : rng() & 0xff);
        }
        if (rng() % 16 == 0) image.resize(rng() % image.size());
        auto result = parse(image);
        if (!result.ok()) {
            EXPECT_FALSE(result.error().message.empty());
            continue;
        }
        ++accepted;
        expect_sane(*result, image);
        EXPECT_TRUE(load_elf(*result, image, *memory).ok());
    }
    RecordProperty("accepted", accepted);
    EXPECT_GT(accepted, 0);  // the mutations are not all fatal: accepted images get checked
}

// ---- load_elf ----------------------------------------------------------------------------

TEST(LoadElf, CopiesSegmentsAndZeroesBss) {
    Bytes file = good_image();
    auto elf = parse(file);
    ASSERT_TRUE(elf.ok()) << elf.error().message;
    auto memory = GuestMemory::create(kLimit);
    ASSERT_TRUE(memory.ok()) << memory.error().message;
    std::memset(memory->base(), 0xaa, memory->size());  // stale contents to overwrite

    ASSERT_TRUE(load_elf(*elf, file, *memory).ok());
    const std::byte* ram = memory->base();
    for (std::uint64_t i = 0; i < 0x2000; ++i)
        ASSERT_EQ(ram[kText + i], pattern(0, i)) << i;
    for (std::uint64_t i = 0; i < 0x100; ++i)
        ASSERT_EQ(ram[kData + i], pattern(1, i)) << i;
    for (std::uint64_t i = 0x100; i < 0x3000; ++i)
        ASSERT_EQ(ram[kData + i], std::byte{0}) << i;
    // Bytes around the segments are untouched.
    EXPECT_EQ(ram[kText - 1], std::byte{0xaa});
    EXPECT_EQ(ram[kText + 0x2000], std::byte{0xaa});
    EXPECT_EQ(ram[kData - 1], std::byte{0xaa});
    EXPECT_EQ(ram[kData + 0x3000], std::byte{0xaa});
}

TEST(LoadElf, FailsWhenGuestMemoryIsTooSmall) {
    Bytes file = good_image();
    auto elf = parse(file);
    ASSERT_TRUE(elf.ok()) << elf.error().message;
    auto memory = GuestMemory::create(kData + 0x1000);  // ends inside the data's bss
    ASSERT_TRUE(memory.ok()) << memory.error().message;
    auto result = load_elf(*elf, file, *memory);
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.error().message.find("does not fit guest memory"), std::string::npos);
}

}  // namespace
}  // namespace domus::monitor

// ---- read_file -----------------------------------------------------------------------------

namespace domus::monitor {
namespace {

std::string write_temp(const Bytes& bytes) {
    char path[] = "/tmp/elf_loader_test.XXXXXX";
    int fd = ::mkstemp(path);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), ssize_t(bytes.size()));
    ::close(fd);
    return path;
}

TEST(ReadFile, StopsAtTheEndOfWhatTheLoaderUses) {
    Bytes image = good_image();
    std::size_t used = image.size();
    Bytes with_debug = image;
    with_debug.resize(used + (1 << 20), std::byte{0x5c});  // symbols, debug sections
    std::string path = write_temp(with_debug);
    auto read = read_file(path);
    ::unlink(path.c_str());
    ASSERT_TRUE(read.ok()) << read.error().message;
    EXPECT_EQ(read->size(), used);
    EXPECT_TRUE(std::equal(read->begin(), read->end(), image.begin()));
    auto parsed = parse(*read);
    EXPECT_TRUE(parsed.ok()) << parsed.error().message;
}

TEST(ReadFile, ReadsEverythingWhenTheHeadersClaimMore) {
    Bytes image = good_image();
    image.resize(image.size() - 16);  // the last segment now runs past the end
    std::string path = write_temp(image);
    auto read = read_file(path);
    ::unlink(path.c_str());
    ASSERT_TRUE(read.ok()) << read.error().message;
    EXPECT_EQ(read->size(), image.size());
    EXPECT_FALSE(parse(*read).ok());  // and the parser says why
}

}  // namespace
}  // namespace domus::monitor
