#include "twostep/crypto/private_file.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "twostep/crypto/encoding.hpp"

namespace twostep::crypto {
namespace {

const PrivateFileLabel kLabel{"test_file", "test file"};

class PrivateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "twostep_pf_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  static unsigned mode_of(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }
  std::string dir_;
};

TEST_F(PrivateFileTest, CreatesPrivateFileAndDirectories) {
  const std::string path = dir_ + "/a/b/secret";
  auto w = write_private_file(path, "hello", WriteMode::kCreateOnly, kLabel);
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_TRUE(*w);
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(mode_of(dir_ + "/a"), 0700u);
  EXPECT_EQ(mode_of(dir_ + "/a/b"), 0700u);
  auto r = read_private_file(path, 100, kLabel);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->view(), "hello");
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_ + "/a/b"),
                          std::filesystem::directory_iterator()),
            1);
}

TEST_F(PrivateFileTest, CreateOnlyNeverOverwritesReplaceDoes) {
  const std::string path = dir_ + "/f";
  ASSERT_TRUE(write_private_file(path, "one", WriteMode::kCreateOnly, kLabel));
  auto again = write_private_file(path, "two", WriteMode::kCreateOnly, kLabel);
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_EQ((*read_private_file(path, 100, kLabel))->view(), "one");
  auto replaced = write_private_file(path, "three", WriteMode::kReplace, kLabel);
  ASSERT_TRUE(replaced);
  EXPECT_TRUE(*replaced);
  EXPECT_EQ((*read_private_file(path, 100, kLabel))->view(), "three");
  EXPECT_EQ(mode_of(path), 0600u);
}

TEST_F(PrivateFileTest, CreatePrivateFileMakesAnEmpty0600FileOnceAndLeavesExistingOnes) {
  const std::string path = dir_ + "/db/sub/store.db";
  auto made = create_private_file(path, kLabel);
  ASSERT_TRUE(made) << made.error().message;
  EXPECT_TRUE(*made);
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(mode_of(dir_ + "/db"), 0700u);
  EXPECT_EQ(mode_of(dir_ + "/db/sub"), 0700u);
  EXPECT_EQ(std::filesystem::file_size(path), 0u);
  // An existing file (whatever its mode and content) is left as it is.
  { std::ofstream(path) << "data"; }
  ::chmod(path.c_str(), 0640);
  auto again = create_private_file(path, kLabel);
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_EQ(mode_of(path), 0640u);
  EXPECT_EQ(std::filesystem::file_size(path), 4u);
  // A parent that is a file: a clear error naming the path.
  auto bad = create_private_file(path + "/x", kLabel);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("test file"), std::string::npos) << bad.error().message;
}

TEST_F(PrivateFileTest, MissingIsNotAnError) {
  auto r = read_private_file(dir_ + "/nope", 100, kLabel);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
}

TEST_F(PrivateFileTest, RefusesOpenModesSymlinksDirectoriesAndHugeFiles) {
  const std::string path = dir_ + "/f";
  ASSERT_TRUE(write_private_file(path, "x", WriteMode::kCreateOnly, kLabel));
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  auto r = read_private_file(path, 100, kLabel);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "test_file");
  EXPECT_NE(r.error().message.find("chmod 600"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("test file " + path), std::string::npos);

  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  ASSERT_EQ(::symlink(path.c_str(), (dir_ + "/link").c_str()), 0);
  EXPECT_FALSE(read_private_file(dir_ + "/link", 100, kLabel));
  EXPECT_FALSE(read_private_file(dir_, 100, kLabel));
  EXPECT_FALSE(read_private_file(path, 0, kLabel));  // larger than allowed
}

TEST(PercentEncodingTest, EncodesAllButUnreservedAndDecodesBack) {
  EXPECT_EQ(percent_encode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(percent_encode("a b/c:d?&=\xff"), "a%20b%2Fc%3Ad%3F%26%3D%FF");
  EXPECT_EQ(percent_decode("a%20b%2fc+"), "a b/c+");
  const std::string all = [] {
    std::string s;
    for (int c = 0; c < 256; ++c) s.push_back(static_cast<char>(c));
    return s;
  }();
  EXPECT_EQ(percent_decode(percent_encode(all)), all);
  EXPECT_FALSE(percent_decode("%"));
  EXPECT_FALSE(percent_decode("%4"));
  EXPECT_FALSE(percent_decode("%zz"));
  EXPECT_FALSE(percent_decode("abc%g0"));
}

}  // namespace
}  // namespace twostep::crypto
