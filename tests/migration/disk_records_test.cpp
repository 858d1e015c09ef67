// disk_file and disk_data bodies: they round-trip, and a hostile stream's bodies (out of
// order, backing files that come later, data outside its file) are refused.
#include "migration/disk_records.hpp"

#include "migration/stream_records.hpp"

#include <gtest/gtest.h>

namespace domus::migration {
namespace {

DiskFile file(std::uint32_t id, std::uint32_t backing = kNoBacking) {
    return DiskFile{id, 1 << 20, "/images/f" + std::to_string(id),
                    backing == kNoBacking ? "raw" : "qcow2", backing};
}

TEST(DiskRecords, DiskFileRoundTrips) {
    auto decoded = decode_disk_file(encode(file(1, 0)), 1);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(decoded->id, 1u);
    EXPECT_EQ(decoded->backing, 0u);
    EXPECT_EQ(decoded->size, 1u << 20);
    EXPECT_EQ(decoded->path, "/images/f1");
    EXPECT_EQ(decoded->format, "qcow2");
}

TEST(DiskRecords, DiskFileOutOfOrderOrWithALaterBackingFileIsRefused) {
    EXPECT_FALSE(decode_disk_file(encode(file(2)), 1)) << "id 2 where 1 is due";
    EXPECT_FALSE(decode_disk_file(encode(file(1, 1)), 1)) << "its own backing file";
    EXPECT_FALSE(decode_disk_file(encode(file(1, 5)), 1)) << "a backing file not sent yet";
    DiskFile raw_with_backing = file(1, 0);
    raw_with_backing.format = "raw";
    EXPECT_FALSE(decode_disk_file(encode(raw_with_backing), 1));
    DiskFile relative = file(0);
    relative.path = "images/f0";
    EXPECT_FALSE(decode_disk_file(encode(relative), 0));
    DiskFile vmdk = file(0);
    vmdk.format = "vmdk";
    EXPECT_FALSE(decode_disk_file(encode(vmdk), 0));
    auto body = encode(file(0));
    body.pop_back();
    EXPECT_FALSE(decode_disk_file(body, 0)) << "cut short";
    body = encode(file(0));
    body.push_back(0);
    EXPECT_FALSE(decode_disk_file(body, 0)) << "stray bytes";
}

std::vector<std::uint8_t> joined(const std::vector<std::span<const std::uint8_t>>& pieces) {
    std::vector<std::uint8_t> out;
    for (auto piece : pieces)
        out.insert(out.end(), piece.begin(), piece.end());
    return out;
}

TEST(DiskRecords, DiskDataRoundTripsInsideItsFile) {
    std::vector<DiskFile> files{file(0)};
    std::vector<std::uint8_t> data(4096, 0xab), head;
    auto body = joined(disk_data_pieces(head, 0, (1 << 20) - 4096, data));
    auto view = decode_disk_data(body, files);
    ASSERT_TRUE(view) << view.error().message;
    EXPECT_EQ(view->id, 0u);
    EXPECT_EQ(view->offset, (1u << 20) - 4096);
    EXPECT_EQ(std::vector<std::uint8_t>(view->data.begin(), view->data.end()), data);
}

TEST(DiskRecords, DiskDataOutsideItsFileOrForAnUnknownFileIsRefused) {
    std::vector<DiskFile> files{file(0)};
    std::vector<std::uint8_t> data(4096, 1), head;
    EXPECT_FALSE(decode_disk_data(joined(disk_data_pieces(head, 0, (1 << 20) - 100, data)), files));
    EXPECT_FALSE(decode_disk_data(joined(disk_data_pieces(head, 0, ~0ull - 10, data)), files))
        << "offset + length wraps";
    EXPECT_FALSE(decode_disk_data(joined(disk_data_pieces(head, 1, 0, data)), files));
    EXPECT_FALSE(decode_disk_data(std::vector<std::uint8_t>(7, 0), files)) << "cut short";
}

TEST(DiskRecords, ADomainStreamRefusesDiskRecords) {
    VectorSink sink;
    StreamWriter writer(sink);
    ASSERT_TRUE(writer.header(0));
    DomainInfo info;
    info.nr_pfns = 256;
    info.memory_mib = 1;
    info.maxmem_mib = 1;
    info.name = "d";
    ASSERT_TRUE(writer.record(RecordType::domain_info, encode(info)));
    ASSERT_TRUE(writer.record(RecordType::disk_file, encode(file(0))));
    SpanSource source(sink.data);
    auto checked = check_stream(source);
    ASSERT_FALSE(checked);
    EXPECT_NE(checked.error().message.find("disk stream"), std::string::npos)
        << checked.error().message;
}

}  // namespace
}  // namespace domus::migration
