#include "twostep/crypto/keyring.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/random.hpp"

namespace twostep::crypto {
namespace {

namespace fs = std::filesystem;

class KeyringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("twostep-keyring-" + hex_encode(random_bytes(8)));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static unsigned mode_of(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st.st_mode & 07777;
  }

  static void write_file(const std::string& p, const std::string& content, unsigned mode = 0600) {
    {
      std::ofstream f(p, std::ios::binary | std::ios::trunc);
      f << content;
    }
    ::chmod(p.c_str(), mode);
  }

  static std::string read(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  static Keyring one_key(uint32_t id = 1, char fill = 'k') {
    return Keyring::from_keys({{id, std::string(32, fill)}}, id);
  }

  fs::path dir_;
};

TEST_F(KeyringTest, CreateWrites0600FileInNew0700Dirs) {
  const std::string p = path("var/keys/master.key");
  auto kr = Keyring::load_or_create(p);
  ASSERT_TRUE(kr) << kr.error().message;
  EXPECT_EQ(kr->current_id(), 1u);
  EXPECT_EQ(mode_of(p), 0600u);
  EXPECT_EQ(mode_of(path("var/keys")), 0700u);
  EXPECT_EQ(mode_of(path("var")), 0700u);
  const std::string content = read(p);
  ASSERT_EQ(content.size(), 2u + 64u + 1u) << content;
  EXPECT_EQ(content.substr(0, 2), "1 ");
  EXPECT_TRUE(hex_decode(content.substr(2, 64)));
  EXPECT_EQ(content.back(), '\n');
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(path("var/keys")), fs::directory_iterator()), 1);
}

TEST_F(KeyringTest, ConcurrentCreatesAgreeOnOneKey) {
  const std::string p = path("race/master.key");
  std::vector<std::string> derived(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < derived.size(); ++i) {
    threads.emplace_back([&, i] {
      auto kr = Keyring::load_or_create(p);
      derived[i] = kr ? kr->derive("x") : "error: " + kr.error().message;
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& d : derived) EXPECT_EQ(d, derived[0]);
  auto reloaded = Keyring::load_or_create(p);
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(reloaded->derive("x"), derived[0]);
}

TEST_F(KeyringTest, ReloadGivesSameDerivedKeys) {
  const std::string p = path("master.key");
  auto a = Keyring::load_or_create(p);
  auto b = Keyring::load_or_create(p);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->derive("recovery-pepper"), b->derive("recovery-pepper"));
  EXPECT_EQ(a->derive("recovery-pepper").size(), 32u);
  EXPECT_NE(a->derive("recovery-pepper"), a->derive("session-pepper"));
  // Another file, another key.
  auto c = Keyring::load_or_create(path("other.key"));
  ASSERT_TRUE(c);
  EXPECT_NE(a->derive("recovery-pepper"), c->derive("recovery-pepper"));
  // A blob sealed before the reload opens after it.
  auto opened = b->open(a->seal("seed", "ad"), "ad");
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->view(), "seed");
}

TEST_F(KeyringTest, DeriveIsHkdfOfTheCurrentKey) {
  const Keyring kr = Keyring::from_keys({{1, std::string(32, 'a')}, {2, std::string(32, 'b')}}, 2);
  EXPECT_EQ(kr.derive("p"), kr.derive("p", 2));
  EXPECT_NE(kr.derive("p"), kr.derive("p", 1));
  EXPECT_EQ(kr.derive("p", 3), std::nullopt);
}

TEST_F(KeyringTest, SealOpenRoundTrip) {
  const Keyring kr = one_key(7);
  for (const std::string& plain :
       {std::string(), std::string("x"), random_bytes(20), random_bytes(1000)}) {
    const std::string sealed = kr.seal(plain, "totp:user=5:method=9");
    ASSERT_EQ(sealed.size(), 1u + 4u + 24u + plain.size() + 16u);
    EXPECT_EQ(sealed[0], '\x01');
    EXPECT_EQ(sealed.substr(1, 4), std::string("\0\0\0\x07", 4));
    auto opened = kr.open(sealed, "totp:user=5:method=9");
    ASSERT_TRUE(opened) << opened.error().detail;
    EXPECT_EQ(opened->str(), plain);
  }
  // Fresh nonce every time.
  EXPECT_NE(kr.seal("same", "ad"), kr.seal("same", "ad"));
}

TEST_F(KeyringTest, WrongAssociatedDataFails) {
  const Keyring kr = one_key();
  const std::string sealed = kr.seal("seed", "totp:user=5:method=9");
  auto r = kr.open(sealed, "totp:user=6:method=9");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::Code::kInternal);
  EXPECT_FALSE(kr.open(sealed, ""));
}

TEST_F(KeyringTest, AnyTamperedByteFails) {
  const Keyring kr = Keyring::from_keys({{1, std::string(32, 'a')}, {2, std::string(32, 'b')}}, 1);
  const std::string sealed = kr.seal("seed bytes", "ad");
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EXPECT_FALSE(kr.open(bad, "ad")) << "byte " << i;
  }
}

TEST_F(KeyringTest, TruncatedFails) {
  const Keyring kr = one_key();
  const std::string sealed = kr.seal("seed", "ad");
  for (std::size_t n = 0; n < sealed.size(); ++n) {
    EXPECT_FALSE(kr.open(sealed.substr(0, n), "ad")) << n;
  }
  EXPECT_FALSE(kr.open(sealed + "x", "ad"));
}

TEST_F(KeyringTest, UnknownKeyIdFails) {
  const std::string sealed = one_key(1).seal("seed", "ad");
  auto r = one_key(2).open(sealed, "ad");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("unknown key id 1"), std::string::npos);
  // A clear "try again" (503), not an internal error: during a rotation another instance may
  // already use a key whose file has not reached this one.
  EXPECT_EQ(r.error().code, core::Code::kUnavailable);
  EXPECT_EQ(r.error().reason, "master_key_unavailable");
  EXPECT_GT(r.error().retry_after_s, 0);
}

TEST_F(KeyringTest, RotationKeepsOldBlobsOpen) {
  const std::string k1 = random_bytes(32);
  const std::string k2 = random_bytes(32);
  const std::string p = path("master.key");
  write_file(p, "1 " + hex_encode(k1) + "\n");
  auto before = Keyring::load_or_create(p);
  ASSERT_TRUE(before);
  const std::string old_blob = before->seal("old seed", "ad");

  write_file(p, "1 " + hex_encode(k1) + "\n2 " + hex_encode(k2) + "\n");
  auto after = Keyring::load_or_create(p);
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->current_id(), 2u);
  auto opened = after->open(old_blob, "ad");
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->view(), "old seed");
  const std::string new_blob = after->seal("new seed", "ad");
  EXPECT_EQ(new_blob.substr(1, 4), std::string("\0\0\0\x02", 4));
  EXPECT_FALSE(before->open(new_blob, "ad"));  // the old keyring does not know key 2
  EXPECT_EQ(after->derive("p", 1), before->derive("p"));
}

TEST_F(KeyringTest, GroupReadableFileIsRefused) {
  const std::string p = path("master.key");
  ASSERT_TRUE(Keyring::load_or_create(p));
  for (unsigned mode : {0640u, 0604u, 0660u, 0644u}) {
    ::chmod(p.c_str(), mode);
    auto r = Keyring::load_or_create(p);
    ASSERT_FALSE(r) << std::oct << mode;
    EXPECT_EQ(r.error().code, core::Code::kFailedPrecondition);
    EXPECT_NE(r.error().message.find("chmod 600"), std::string::npos) << r.error().message;
  }
  ::chmod(p.c_str(), 0400);
  EXPECT_TRUE(Keyring::load_or_create(p));
}

TEST_F(KeyringTest, MalformedFileIsRefused) {
  const std::string hex = hex_encode(random_bytes(32));
  const std::string cases[] = {
      "",                                // no key
      "# only a comment\n",              //
      hex + "\n",                        // no id
      "1\n",                             // no key
      "x " + hex + "\n",                 // id not a number
      "-1 " + hex + "\n",                //
      "1 " + hex.substr(2) + "\n",       // short key
      "1 " + hex + "00\n",               // long key
      "1 " + hex.substr(2) + "zz\n",     // not hex
      "1 " + hex + "\n1 " + hex + "\n",  // duplicate id
      "1 " + hex + " extra\n",           //
      "4294967296 " + hex + "\n",        // id out of range
      "0 " + hex + "\n",                 // id 0 is reserved (keyed hashes older than key ids)
  };
  for (const auto& content : cases) {
    const std::string p = path("bad.key");
    write_file(p, content);
    auto r = Keyring::load_or_create(p);
    ASSERT_FALSE(r) << content;
    EXPECT_EQ(r.error().code, core::Code::kFailedPrecondition);
    EXPECT_EQ(r.error().message.find(hex), std::string::npos);  // never echo key bytes
  }
}

TEST_F(KeyringTest, CommentsBlankLinesAndCrlfAreAccepted) {
  const std::string hex = hex_encode(random_bytes(32));
  const std::string p = path("ok.key");
  write_file(p, "# rotated 2024-01-01\r\n\r\n3 " + hex + "\r\n\n");
  auto r = Keyring::load_or_create(p);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->current_id(), 3u);
}

TEST_F(KeyringTest, DirectoryOrSymlinkIsRefused) {
  fs::create_directories(path("dir.key"));
  EXPECT_FALSE(Keyring::load_or_create(path("dir.key")));
  ASSERT_TRUE(Keyring::load_or_create(path("real.key")));
  fs::create_symlink(path("real.key"), path("link.key"));
  EXPECT_FALSE(Keyring::load_or_create(path("link.key")));
}

TEST_F(KeyringTest, AddKeyAppendsTheNextIdAndKeepsEverythingElse) {
  const std::string p = path("master.key");
  const std::string k1 = hex_encode(random_bytes(32));
  const std::string k5 = hex_encode(random_bytes(32));
  const std::string original = "# made by hand\n1 " + k1 + "\n\n5 " + k5;  // no final newline
  write_file(p, original);
  auto before = Keyring::load_or_create(p);
  ASSERT_TRUE(before) << before.error().message;

  auto id = Keyring::add_key(p);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(*id, 6u);  // highest + 1, not count + 1
  EXPECT_EQ(mode_of(p), 0600u);
  const std::string text = read(p);
  EXPECT_EQ(text.rfind(original + "\n6 ", 0), 0u) << "older lines kept as they were";
  EXPECT_EQ(text.back(), '\n');

  auto after = Keyring::load_or_create(p);
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->current_id(), 6u);
  EXPECT_EQ(after->ids(), (std::vector<uint32_t>{1, 5, 6}));
  EXPECT_EQ(after->derive("p", 5), before->derive("p"));
  EXPECT_NE(after->derive("p"), before->derive("p"));
  EXPECT_TRUE(after->open(before->seal("x", "ad"), "ad"));

  ASSERT_TRUE(Keyring::add_key(p));
  EXPECT_EQ(Keyring::load_or_create(p)->current_id(), 7u);
}

TEST_F(KeyringTest, ConcurrentRotationsEachAddTheirOwnKey) {
  const std::string p = path("master.key");
  ASSERT_TRUE(Keyring::load_or_create(p));
  constexpr int kThreads = 8;
  std::vector<uint32_t> ids(kThreads, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto id = Keyring::add_key(p);
      if (id) ids[i] = *id;
    });
  }
  for (auto& t : threads) t.join();
  std::sort(ids.begin(), ids.end());
  std::vector<uint32_t> expected;
  for (uint32_t id = 2; id <= kThreads + 1; ++id) expected.push_back(id);
  EXPECT_EQ(ids, expected);  // none lost, none twice
  auto kr = Keyring::load_or_create(p);
  ASSERT_TRUE(kr) << kr.error().message;
  EXPECT_EQ(kr->ids().size(), kThreads + 1u);
  EXPECT_EQ(kr->current_id(), kThreads + 1u);
}

TEST_F(KeyringTest, AddKeyRefusesBadFilesAndChangesNothing) {
  const std::string hex = hex_encode(random_bytes(32));
  // Missing: nothing is created (a rotation needs the file the servers use).
  auto missing = Keyring::add_key(path("none.key"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, core::Code::kFailedPrecondition);
  EXPECT_NE(missing.error().message.find("does not exist"), std::string::npos);
  EXPECT_FALSE(fs::exists(path("none.key")));
  EXPECT_FALSE(Keyring::add_key(""));

  struct Case {
    std::string content;
    unsigned mode;
  };
  const Case cases[] = {
      {"1 " + hex.substr(4) + "\n", 0600},       // malformed
      {"1 " + hex + "\n1 " + hex + "\n", 0600},  // duplicate id
      {"", 0600},                                // no key
      {"1 " + hex + "\n", 0644},                 // readable by others
      {"4294967295 " + hex + "\n", 0600},        // no id left
  };
  for (const auto& c : cases) {
    const std::string p = path("bad.key");
    write_file(p, c.content, c.mode);
    auto r = Keyring::add_key(p);
    ASSERT_FALSE(r) << c.content;
    EXPECT_EQ(r.error().code, core::Code::kFailedPrecondition);
    EXPECT_EQ(r.error().message.find(hex), std::string::npos);
    EXPECT_EQ(read(p), c.content);
    EXPECT_EQ(mode_of(p), c.mode);
  }
  fs::create_directories(path("dir.key"));
  EXPECT_FALSE(Keyring::add_key(path("dir.key")));
}

// What a version of twostep that knows no staged marker takes as the current key: the id of
// the last "<id> <hex>" line, comments skipped.
uint32_t last_key_line_id(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  uint32_t id = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    id = static_cast<uint32_t>(std::stoul(line.substr(0, line.find(' '))));
  }
  return id;
}

TEST_F(KeyringTest, StagedKeyIsLoadedButNotCurrent) {
  const std::string p = path("master.key");
  const std::string k1 = hex_encode(random_bytes(32));
  const std::string original = "# made by hand\n1 " + k1 + "\n# after the key\n";
  write_file(p, original);
  auto before = Keyring::load_or_create(p);
  ASSERT_TRUE(before) << before.error().message;
  EXPECT_FALSE(before->staged(1));

  auto id = Keyring::add_key(p, Keyring::AddMode::kStaged);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(*id, 2u);
  EXPECT_EQ(mode_of(p), 0600u);
  const std::string text = read(p);
  // The marker and the new key go just before the current key, which stays the last key line:
  // an older version reads the same current key (and loads key 2 as an older one).
  const std::string prefix = "# made by hand\n# staged: key 2 is not current yet";
  EXPECT_EQ(text.rfind(prefix, 0), 0u) << text;
  EXPECT_NE(text.find("\n2 "), std::string::npos);
  EXPECT_LT(text.find("\n2 "), text.find("\n1 " + k1 + "\n# after the key\n"));
  EXPECT_EQ(last_key_line_id(text), 1u);

  auto after = Keyring::load_or_create(p);
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->current_id(), 1u);
  EXPECT_EQ(after->ids(), (std::vector<uint32_t>{1, 2}));
  EXPECT_TRUE(after->staged(2));
  EXPECT_FALSE(after->staged(1));
  EXPECT_EQ(after->derive("p"), before->derive("p"));  // still hashing with key 1
  EXPECT_EQ(Keyring::sealed_key_id(after->seal("x", "ad")), 1u);
  EXPECT_TRUE(after->derive("p", 2));
}

TEST_F(KeyringTest, UseMakesAKeyCurrentAndKeepsEveryLine) {
  const std::string p = path("master.key");
  const std::string k1 = hex_encode(random_bytes(32));
  write_file(p, "# comment a\n1 " + k1 + "\r\n# comment b\n");
  ASSERT_TRUE(Keyring::add_key(p, Keyring::AddMode::kStaged));
  ASSERT_TRUE(Keyring::add_key(p, Keyring::AddMode::kStaged));  // two staged: 2 and 3
  auto staged = Keyring::load_or_create(p);
  ASSERT_TRUE(staged);
  EXPECT_TRUE(staged->staged(2));
  EXPECT_TRUE(staged->staged(3));
  EXPECT_EQ(staged->current_id(), 1u);
  const std::string staged_text = read(p);

  auto previous = Keyring::use_key(p, 2);
  ASSERT_TRUE(previous) << previous.error().message;
  EXPECT_EQ(*previous, 1u);
  EXPECT_EQ(mode_of(p), 0600u);
  const std::string text = read(p);
  EXPECT_NE(text.find("# comment a\n"), std::string::npos);
  EXPECT_NE(text.find("# comment b\n"), std::string::npos);
  EXPECT_NE(text.find("\n1 " + k1 + "\r\n"), std::string::npos) << "other lines stay as they were";
  EXPECT_EQ(text.find("# staged: key 2"), std::string::npos) << "its marker goes";
  EXPECT_NE(text.find("# staged: key 3"), std::string::npos) << "the other one stays";
  EXPECT_EQ(last_key_line_id(text), 2u);  // older versions agree on the current key
  // Every line but key 2's marker, and key 2's line itself, moved to the end.
  const std::size_t line2 = staged_text.find("\n2 ") + 1;
  const std::string key2_line = staged_text.substr(line2, staged_text.find('\n', line2) - line2);
  EXPECT_EQ(text.substr(text.size() - key2_line.size() - 1), key2_line + "\n");

  auto used = Keyring::load_or_create(p);
  ASSERT_TRUE(used) << used.error().message;
  EXPECT_EQ(used->current_id(), 2u);
  EXPECT_EQ(used->ids(), (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_FALSE(used->staged(2));
  EXPECT_FALSE(used->staged(1));
  EXPECT_TRUE(used->staged(3));
  EXPECT_EQ(used->derive("p", 2), staged->derive("p", 2));  // the same key bytes
  EXPECT_EQ(used->derive("p", 1), staged->derive("p"));
  EXPECT_TRUE(used->open(staged->seal("x", "ad"), "ad"));
  EXPECT_TRUE(staged->open(used->seal("x", "ad"), "ad"));

  // Back to key 1 (a rollback): key 2 is an older key now, not staged.
  ASSERT_TRUE(Keyring::use_key(p, 1));
  auto back = Keyring::load_or_create(p);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->current_id(), 1u);
  EXPECT_FALSE(back->staged(2));
  EXPECT_EQ(back->ids(), (std::vector<uint32_t>{1, 2, 3}));
}

// The two-phase procedure with two instances, A and B, each loading its own copy of the file:
// at every step, whatever one seals or hashes the other opens or checks.
TEST_F(KeyringTest, TwoPhaseRotationEveryStepReadsTheOthersValues) {
  const std::string p = path("master.key");
  ASSERT_TRUE(Keyring::load_or_create(p));
  auto load = [&] {
    auto kr = Keyring::load_or_create(p);
    EXPECT_TRUE(kr) << kr.error().message;
    return *kr;
  };
  auto each_reads_the_other = [](const Keyring& a, const Keyring& b) {
    for (const auto* w : {&a, &b}) {
      const auto* r = w == &a ? &b : &a;
      auto opened = r->open(w->seal("seed", "ad"), "ad");
      ASSERT_TRUE(opened) << opened.error().detail;
      EXPECT_EQ(opened->view(), "seed");
      // A keyed hash made under the writer's current key, checked under the id stored with it.
      EXPECT_EQ(r->derive("pepper", w->current_id()), w->derive("pepper"));
    }
  };
  Keyring a = load();
  Keyring b = load();
  each_reads_the_other(a, b);
  // Step 1: key add; the instances restart one after the other.
  auto id = Keyring::add_key(p, Keyring::AddMode::kStaged);
  ASSERT_TRUE(id);
  b = load();
  each_reads_the_other(a, b);
  a = load();
  each_reads_the_other(a, b);
  // Step 2: key use; again one after the other, the other way round.
  ASSERT_TRUE(Keyring::use_key(p, *id));
  a = load();
  EXPECT_EQ(a.current_id(), *id);
  EXPECT_EQ(b.current_id(), 1u);
  each_reads_the_other(a, b);
  b = load();
  each_reads_the_other(a, b);
  EXPECT_EQ(b.current_id(), *id);
}

TEST_F(KeyringTest, StagedMarkerForms) {
  const std::string k1 = hex_encode(random_bytes(32));
  const std::string k2 = hex_encode(random_bytes(32));
  const std::string k3 = hex_encode(random_bytes(32));
  struct Case {
    std::string text;
    bool staged2;
    bool staged3;
  };
  const Case cases[] = {
      {"#staged:key 2\n2 " + k2 + "\n1 " + k1 + "\n", true, false},
      {"  # staged:\tkey 2 (by hand)\n2 " + k2 + "\n1 " + k1 + "\n", true, false},
      {"2 " + k2 + "\n1 " + k1 + "\n# staged: key 2\n", true, false},  // anywhere in the file
      {"# staged: keys 2\n2 " + k2 + "\n1 " + k1 + "\n", false, false},
      {"# staged: key 2x\n2 " + k2 + "\n1 " + k1 + "\n", false, false},
      {"# not staged: key 2\n2 " + k2 + "\n1 " + k1 + "\n", false, false},
      {"# staged: key 3\n2 " + k2 + "\n1 " + k1 + "\n", false, false},  // no key 3: ignored
      // Made current by hand (moved to the end): current wins over the marker.
      {"1 " + k1 + "\n# staged: key 3\n3 " + k3 + "\n", false, false},
      // Passed over: a later key was made current (`key rotate` after `key add`).
      {"1 " + k1 + "\n# staged: key 2\n2 " + k2 + "\n3 " + k3 + "\n", false, false},
  };
  for (const auto& c : cases) {
    const std::string p = path("m.key");
    write_file(p, c.text);
    auto kr = Keyring::load_or_create(p);
    ASSERT_TRUE(kr) << c.text;
    EXPECT_EQ(kr->staged(2), c.staged2) << c.text;
    EXPECT_EQ(kr->staged(3), c.staged3) << c.text;
    EXPECT_FALSE(kr->staged(kr->current_id()));
  }
}

TEST_F(KeyringTest, UseRefusesBadInputAndChangesNothing) {
  const std::string hex = hex_encode(random_bytes(32));
  const std::string hex2 = hex_encode(random_bytes(32));
  const std::string good = "# keys\n# staged: key 2\n2 " + hex2 + "\n1 " + hex + "\n";
  struct Case {
    std::string content;
    unsigned mode;
    uint32_t id;
    core::Code code;
    std::string says;
  };
  const Case cases[] = {
      {good, 0600, 3, core::Code::kNotFound, "has no key 3"},
      {good, 0600, 1, core::Code::kFailedPrecondition, "current key already"},
      {good, 0640, 2, core::Code::kFailedPrecondition, "chmod 600"},
      {good, 0604, 2, core::Code::kFailedPrecondition, "chmod 600"},
      {"1 " + hex.substr(4) + "\n2 " + hex2 + "\n", 0600, 2, core::Code::kFailedPrecondition,
       "line 1: key must be 64 hex chars"},
      {"1 " + hex + "\n1 " + hex2 + "\n", 0600, 1, core::Code::kFailedPrecondition, "duplicate"},
      {"# staged: key 2\n", 0600, 2, core::Code::kFailedPrecondition, "contains no key"},
  };
  for (const auto& c : cases) {
    const std::string p = path("bad.key");
    write_file(p, c.content, c.mode);
    auto r = Keyring::use_key(p, c.id);
    ASSERT_FALSE(r) << c.content;
    EXPECT_EQ(r.error().code, c.code) << c.content;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find(hex), std::string::npos);
    EXPECT_EQ(r.error().message.find(hex2), std::string::npos);
    EXPECT_EQ(read(p), c.content);
    EXPECT_EQ(mode_of(p), c.mode);
  }
  auto missing = Keyring::use_key(path("none.key"), 1);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("does not exist"), std::string::npos);
  EXPECT_FALSE(fs::exists(path("none.key")));
  // Staged adds refuse what add_key refuses.
  const std::string p = path("open.key");
  write_file(p, good, 0644);
  EXPECT_FALSE(Keyring::add_key(p, Keyring::AddMode::kStaged));
  EXPECT_EQ(read(p), good);
}

TEST_F(KeyringTest, RemoveTakesOutOneKeyAndKeepsEveryOtherLine) {
  const std::string p = path("master.key");
  const std::string k1 = hex_encode(random_bytes(32));
  const std::string k2 = hex_encode(random_bytes(32));
  const std::string k3 = hex_encode(random_bytes(32));
  const std::string k4 = hex_encode(random_bytes(32));
  const std::string before_text = "# comment a\n1 " + k1 + "\r\n2 " + k2 +
                                  "\n# staged: key 4\n4 " + k4 + "\n# comment b\n3 " + k3 + "\n";
  write_file(p, before_text);
  auto before = Keyring::load_or_create(p);
  ASSERT_TRUE(before) << before.error().message;
  ASSERT_EQ(before->current_id(), 3u);
  ASSERT_TRUE(before->staged(4));

  auto removed = Keyring::remove_key(p, 1);
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(mode_of(p), 0600u);
  const std::string text = read(p);
  EXPECT_EQ(text.find(k1), std::string::npos) << "the key bytes are gone";
  // Every other line is exactly as it was; key 1's line became the retired marker.
  std::string expected = before_text;
  expected.replace(expected.find("1 " + k1 + "\r"), 2 + k1.size() + 1,
                   "# retired: key 1 (twostep key retire); its id is not given again");
  EXPECT_EQ(text, expected);
  EXPECT_EQ(last_key_line_id(text), 3u);

  auto after = Keyring::load_or_create(p);
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->ids(), (std::vector<uint32_t>{2, 3, 4}));
  EXPECT_EQ(after->current_id(), 3u);
  EXPECT_TRUE(after->staged(4));
  EXPECT_FALSE(after->staged(2));
  EXPECT_FALSE(after->has(1));
  for (uint32_t id : {2u, 3u, 4u}) EXPECT_EQ(after->derive("p", id), before->derive("p", id));
  EXPECT_EQ(after->derive("p"), before->derive("p"));
  auto opened = after->open(before->seal("x", "ad"), "ad");
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->view(), "x");
  // A value still sealed under the retired key: the missing-key error, never key bytes.
  const std::string under1 = Keyring::from_keys({{1, std::string(32, 'a')}}, 1).seal("x", "ad");
  auto gone = after->open(under1, "ad");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().reason, "master_key_unavailable");
}

TEST_F(KeyringTest, RemovedIdIsNotGivenAgain) {
  const std::string p = path("master.key");
  ASSERT_TRUE(Keyring::load_or_create(p));
  ASSERT_EQ(*Keyring::add_key(p), 2u);
  ASSERT_TRUE(Keyring::use_key(p, 1));  // a rollback: key 2, the highest id, is older now
  ASSERT_TRUE(Keyring::remove_key(p, 2));
  auto id = Keyring::add_key(p, Keyring::AddMode::kStaged);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(*id, 3u);
  auto kr = Keyring::load_or_create(p);
  ASSERT_TRUE(kr);
  EXPECT_EQ(kr->ids(), (std::vector<uint32_t>{1, 3}));
  EXPECT_TRUE(kr->staged(3));
  EXPECT_EQ(kr->current_id(), 1u);
}

TEST_F(KeyringTest, RemoveRefusesBadInputAndChangesNothing) {
  const std::string hex = hex_encode(random_bytes(32));
  const std::string hex2 = hex_encode(random_bytes(32));
  const std::string hex3 = hex_encode(random_bytes(32));
  // Key 1 older, key 3 staged, key 2 current.
  const std::string good =
      "# keys\n1 " + hex + "\n# staged: key 3\n3 " + hex3 + "\n2 " + hex2 + "\n";
  struct Case {
    std::string content;
    unsigned mode;
    uint32_t id;
    core::Code code;
    std::string reason;
    std::string says;
  };
  const Case cases[] = {
      {good, 0600, 4, core::Code::kNotFound, "unknown_key", "has no key 4"},
      {good, 0600, 0, core::Code::kNotFound, "unknown_key", "has no key 0"},
      {good, 0600, 2, core::Code::kFailedPrecondition, "current_key", "is the current key"},
      {good, 0600, 3, core::Code::kFailedPrecondition, "staged_key", "is staged"},
      {"1 " + hex + "\n", 0600, 1, core::Code::kFailedPrecondition, "last_key", "only key"},
      {good, 0640, 1, core::Code::kFailedPrecondition, "master_key", "chmod 600"},
      {"1 " + hex + "\n1 " + hex2 + "\n", 0600, 1, core::Code::kFailedPrecondition,
       "master_key", "duplicate"},
  };
  for (const auto& c : cases) {
    const std::string p = path("bad.key");
    write_file(p, c.content, c.mode);
    auto r = Keyring::remove_key(p, c.id);
    ASSERT_FALSE(r) << c.content;
    EXPECT_EQ(r.error().code, c.code) << c.content;
    EXPECT_EQ(r.error().reason, c.reason) << r.error().message;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << r.error().message;
    for (const auto* h : {&hex, &hex2, &hex3}) {
      EXPECT_EQ(r.error().message.find(*h), std::string::npos);
    }
    EXPECT_EQ(read(p), c.content);
    EXPECT_EQ(mode_of(p), c.mode);
  }
  auto missing = Keyring::remove_key(path("none.key"), 1);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("does not exist"), std::string::npos);
  EXPECT_FALSE(fs::exists(path("none.key")));
}

// Retires and rotations at once, with readers loading the file all along: every reader sees
// either the old or the new file (never a partial one), and no change is lost.
TEST_F(KeyringTest, ConcurrentRemovesAndAddsAreAtomic) {
  const std::string p = path("master.key");
  ASSERT_TRUE(Keyring::load_or_create(p));
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(Keyring::add_key(p));  // keys 1-8, 8 current
  std::atomic<bool> done{false};
  std::atomic<int> bad_loads{0};
  std::atomic<int> loads{0};
  std::thread reader([&] {
    while (!done) {
      auto kr = Keyring::load_or_create(p);
      if (!kr || kr->ids().size() < 2) ++bad_loads;
      ++loads;
    }
  });
  std::vector<std::thread> threads;
  std::atomic<int> removed{0};
  for (uint32_t id = 1; id <= 6; ++id) {
    threads.emplace_back([&, id] {
      if (Keyring::remove_key(p, id)) ++removed;
    });
  }
  std::vector<uint32_t> added(3, 0);
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      auto id = Keyring::add_key(p, Keyring::AddMode::kStaged);
      if (id) added[i] = *id;
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  reader.join();
  EXPECT_EQ(bad_loads, 0) << "of " << loads;
  EXPECT_EQ(removed, 6);
  std::sort(added.begin(), added.end());
  EXPECT_EQ(added, (std::vector<uint32_t>{9, 10, 11}));
  auto kr = Keyring::load_or_create(p);
  ASSERT_TRUE(kr) << kr.error().message;
  EXPECT_EQ(kr->ids(), (std::vector<uint32_t>{7, 8, 9, 10, 11}));
  EXPECT_EQ(kr->current_id(), 8u);
  EXPECT_EQ(mode_of(p), 0600u);
}

TEST_F(KeyringTest, SealedKeyIdReadsTheBlobHeader) {
  const Keyring kr = Keyring::from_keys({{1, std::string(32, 'a')}, {7, std::string(32, 'b')}}, 7);
  EXPECT_EQ(Keyring::sealed_key_id(kr.seal("x", "ad")), 7u);
  EXPECT_FALSE(Keyring::sealed_key_id(""));
  EXPECT_FALSE(Keyring::sealed_key_id(std::string("\x01\0\0", 3)));
  EXPECT_FALSE(Keyring::sealed_key_id(std::string("\x02\0\0\0\x07", 5)));
  EXPECT_TRUE(kr.has(1));
  EXPECT_FALSE(kr.has(2));
}

TEST_F(KeyringTest, FromKeysRejectsBadInput) {
  EXPECT_THROW(Keyring::from_keys({{0, std::string(32, 'k')}}, 0), std::invalid_argument);
  EXPECT_THROW(Keyring::from_keys({{1, "short"}}, 1), std::invalid_argument);
  EXPECT_THROW(Keyring::from_keys({{1, std::string(32, 'k')}}, 2), std::invalid_argument);
}

TEST_F(KeyringTest, CopiesShareKeys) {
  Keyring a = one_key();
  Keyring b = a;
  EXPECT_TRUE(b.open(a.seal("x", "ad"), "ad"));
}

TEST_F(KeyringTest, CheckFileReadsWithoutCreating) {
  const std::string p = path("sub/master.key");
  auto missing = Keyring::check_file(p);
  ASSERT_TRUE(missing) << missing.error().message;
  EXPECT_FALSE(*missing);
  EXPECT_FALSE(fs::exists(dir_ / "sub"));  // nothing created, not even the directory
  ASSERT_TRUE(Keyring::load_or_create(p));
  auto present = Keyring::check_file(p);
  ASSERT_TRUE(present) << present.error().message;
  EXPECT_TRUE(*present);
  ::chmod(p.c_str(), 0640);
  auto open_to_group = Keyring::check_file(p);
  ASSERT_FALSE(open_to_group);
  EXPECT_NE(open_to_group.error().message.find("accessible by group or others"), std::string::npos);
  write_file(p, "1 zz\n");
  auto malformed = Keyring::check_file(p);
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().message.find("zz"), std::string::npos);
}

}  // namespace
}  // namespace twostep::crypto
