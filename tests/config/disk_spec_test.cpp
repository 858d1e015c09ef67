// DISKSPEC parsing: the forms xl documents, and the errors.
#include "config/disk_spec.hpp"

#include <gtest/gtest.h>

namespace domus::config {
namespace {

TEST(DiskSpec, PositionalAndNamedFormsMeanTheSame) {
    auto a = parse_disk_spec("/img/g,,xvda");
    auto b = parse_disk_spec("/img/g,raw,xvda,rw");
    auto c = parse_disk_spec("format=raw, vdev=xvda, access=rw, target=/img/g");
    ASSERT_TRUE(a && b && c) << (a ? "" : a.error().message) << (b ? "" : b.error().message);
    EXPECT_EQ(*a, *b);
    EXPECT_EQ(*b, *c);
    EXPECT_EQ(a->virtual_device, 51712u);
}

TEST(DiskSpec, TargetSwallowsCommasAndPrefixesAreStripped) {
    auto spec = parse_disk_spec("vdev=xvdb, access=ro, format=qcow2, target=file:/a,b.qcow2");
    ASSERT_TRUE(spec) << spec.error().message;
    EXPECT_EQ(spec->target, "/a,b.qcow2");
    EXPECT_TRUE(spec->read_only);
    EXPECT_EQ(spec->format, "qcow2");
    EXPECT_EQ(spec->virtual_device, 51728u);
}

TEST(DiskSpec, VbdNumbers) {
    EXPECT_EQ(*vbd_number("xvda"), 51712u);
    EXPECT_EQ(*vbd_number("xvda1"), 51713u);
    EXPECT_EQ(*vbd_number("xvdq"), (1u << 28) | (16u << 8));
    EXPECT_EQ(*vbd_number("hda"), 768u);
    EXPECT_EQ(*vbd_number("sdb"), (8u << 8) | (1u << 4));
    EXPECT_EQ(*vbd_number("d0p1"), (1u << 28) | 1u);
    EXPECT_FALSE(vbd_number("vda"));
    EXPECT_FALSE(vbd_number("xvd"));
    EXPECT_FALSE(vbd_number("xvda999"));
}

TEST(DiskSpec, Errors) {
    EXPECT_NE(parse_disk_spec("/img,raw").error().message.find("vdev is mandatory"),
              std::string::npos);
    EXPECT_NE(parse_disk_spec(",raw,xvda").error().message.find("no target"), std::string::npos);
    EXPECT_NE(parse_disk_spec("/img,vhd,xvda").error().message.find("not supported"),
              std::string::npos);
    EXPECT_NE(parse_disk_spec("/img,raw,xvda,rx").error().message.find("access"),
              std::string::npos);
    EXPECT_NE(parse_disk_spec("/img,raw,xvda,rw,extra").error().message.find("too many"),
              std::string::npos);
    EXPECT_NE(parse_disk_spec("colour=red,/img,raw,xvda").error().message.find("unknown key"),
              std::string::npos);
    EXPECT_NE(parse_disk_spec("/img,raw,xvda,cdrom").error().message.find("cdrom"),
              std::string::npos);
    EXPECT_NE(parse_disk_spec("/i.qcow2,qcow2,xvda,direct-io-safe")
                  .error()
                  .message.find("raw images only"),
              std::string::npos);
}

TEST(DiskSpec, DirectIoSafeAsksForODirect) {
    auto spec = parse_disk_spec("/img,raw,xvda,direct-io-safe");
    ASSERT_TRUE(spec) << spec.error().message;
    EXPECT_TRUE(spec->direct_io);
    EXPECT_FALSE(parse_disk_spec("/img,raw,xvda")->direct_io);
    auto again = parse_disk_spec(to_disk_spec(*spec));
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(*spec, *again);
}

TEST(DiskSpec, ARateLimitInBytesAndRequestsASecondRoundTrips) {
    auto spec = parse_disk_spec("vdev=xvdb, rate_bytes=10M, rate_iops=500, target=/img");
    ASSERT_TRUE(spec) << spec.error().message;
    EXPECT_EQ(spec->rate_bytes, 10u << 20);
    EXPECT_EQ(spec->rate_iops, 500u);
    auto again = parse_disk_spec(to_disk_spec(*spec));
    ASSERT_TRUE(again) << to_disk_spec(*spec);
    EXPECT_EQ(*again, *spec);
    EXPECT_EQ(parse_disk_spec("vdev=xvdb, target=/img")->rate_iops, 0u);  // unlimited
    auto bad = parse_disk_spec("vdev=xvdb, rate_iops=lots, target=/img");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("rate_iops: \"lots\" is not a number"), std::string::npos)
        << bad.error().message;
}

TEST(DiskSpec, RoundTrip) {
    auto spec = parse_disk_spec("/x.qcow2,qcow2,xvdc,ro,no-discard");
    ASSERT_TRUE(spec);
    auto again = parse_disk_spec(to_disk_spec(*spec));
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(*spec, *again);
}

// xl strips one deprecated prefix; stripping each known one in a fixed order instead made
// the result depend on that order ("file:aio:x" lost two, "aio:file:x" one).
TEST(DiskSpec, OnlyOneTargetPrefixIsStripped) {
    auto a = parse_disk_spec("vdev=xvda, target=file:aio:x");
    auto b = parse_disk_spec("vdev=xvda, target=aio:file:x");
    auto c = parse_disk_spec("vdev=xvda, target=tap:aio:x");
    ASSERT_TRUE(a && b && c);
    EXPECT_EQ(a->target, "aio:x");
    EXPECT_EQ(b->target, "file:x");
    EXPECT_EQ(c->target, "x");
}

// Found by the disk_spec fuzzer (tests/fuzz/corpus/disk_spec/crash-prefixes): a target
// that itself starts like a prefix lost it when written back and read again.
TEST(DiskSpec, ATargetThatStartsLikeAPrefixRoundTrips) {
    for (const char* text : {"aio:\",,d1p4, target=file:phy:aio:aio:d",
                             "vdev=xvda, target=file:phy:x", "vdev=xvda, target=file:file:"}) {
        auto spec = parse_disk_spec(text);
        ASSERT_TRUE(spec) << text << ": " << spec.error().message;
        auto again = parse_disk_spec(to_disk_spec(*spec));
        ASSERT_TRUE(again) << to_disk_spec(*spec) << ": " << again.error().message;
        EXPECT_EQ(*spec, *again) << text << " -> " << to_disk_spec(*spec);
    }
}

}  // namespace
}  // namespace domus::config
