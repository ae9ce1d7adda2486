// twostep-auth's pieces that need no server: the Server-Sent Events parser, the accounts
// file (private, atomic, strict) and choosing an account.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "twostep/authenticator/accounts.hpp"
#include "twostep/authenticator/device_client.hpp"
#include "twostep/authenticator/http_client.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/factors/push.hpp"

namespace twostep::authenticator {
namespace {

TEST(SseParserTest, ParsesEventsAcrossChunksAndSkipsComments) {
  SseParser p;
  EXPECT_TRUE(p.feed("retry: 3000\n\n: ping\n\nevent: appr").empty());
  auto evs = p.feed("oval\ndata: {\"id\":1}\n\nevent: decided\r\ndata: a\r\ndata: b\r\n\r\n");
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].event, "approval");
  EXPECT_EQ(evs[0].data, "{\"id\":1}");
  EXPECT_EQ(evs[1].event, "decided");
  EXPECT_EQ(evs[1].data, "a\nb");
  evs = p.feed("data:x\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].event, "message");
  EXPECT_EQ(evs[0].data, "x");
}

TEST(SseParserTest, ByteAtATimeGivesTheSameEvents) {
  const std::string stream =
      "event: approval\ndata: {\"id\":7}\n\n: ping\n\nevent: revoked\ndata: {}\n\n";
  SseParser p;
  std::vector<SseEvent> all;
  for (char c : stream) {
    for (auto& e : p.feed(std::string_view(&c, 1))) all.push_back(e);
  }
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].data, "{\"id\":7}");
  EXPECT_EQ(all[1].event, "revoked");
}

TEST(DescribeFailureTest, PrefersTheServersMessage) {
  EXPECT_EQ(describe_failure({401, "{\"error\":\"x\",\"message\":\"Nope.\"}", ""}), "Nope.");
  EXPECT_EQ(describe_failure({502, "<html>", ""}), "the server answered HTTP 502");
  EXPECT_EQ(describe_failure({0, "", "Couldn't connect to server"}), "Couldn't connect to server");
  EXPECT_EQ(error_code({401, "{\"error\":\"replayed_request\",\"message\":\"m\"}", ""}),
            "replayed_request");
  EXPECT_EQ(error_code({401, "oops", ""}), "");
}

TEST(SignedHeadersTest, VerifyWithTheServersCheckAndIncrease) {
  auto kp = factors::push::generate_keypair();
  auto header = [](const std::vector<std::string>& hs, const std::string& name) {
    for (const auto& h : hs) {
      if (h.rfind(name + ": ", 0) == 0) return h.substr(name.size() + 2);
    }
    return std::string();
  };
  auto h1 = signed_headers("dev", kp.secret_key.view(), "POST", "/api/v1/x", "{}");
  auto h2 = signed_headers("dev", kp.secret_key.view(), "POST", "/api/v1/x", "{}");
  const int64_t t1 = std::stoll(header(h1, "X-Twostep-Timestamp"));
  const int64_t t2 = std::stoll(header(h2, "X-Twostep-Timestamp"));
  EXPECT_GT(t2, t1);  // never the same timestamp twice
  EXPECT_EQ(header(h1, "X-Twostep-Device"), "dev");
  auto sig = crypto::base64url_decode(header(h1, "X-Twostep-Signature"));
  ASSERT_TRUE(sig);
  EXPECT_TRUE(factors::push::verify(
      kp.public_key, factors::push::signing_string("POST", "/api/v1/x", "dev", t1, "{}"), *sig));
  // Enrolment: no device header.
  EXPECT_EQ(header(signed_headers("", kp.secret_key.view(), "POST", "/e", ""), "X-Twostep-Device"),
            "");
}

class AccountStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "twostep_auth_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  static Account sample(const std::string& name, const std::string& user) {
    Account a;
    a.name = name;
    a.server = "https://id.example.com";
    a.account = user;
    a.issuer = "twostep";
    a.device_id = "dev-" + user;
    a.secret_key = core::Secret(std::string(64, 'k'));
    a.totp_seed = core::Secret("12345678901234567890");
    a.method_id = 7;
    a.enrolled_at = 1700000000;
    return a;
  }
  static unsigned mode_of(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st.st_mode & 07777;
  }
  std::string root_;
};

TEST_F(AccountStoreTest, SavesPrivatelyAndLoadsBack) {
  AccountStore store(root_ + "/cfg/twostep-auth");
  auto none = store.load();
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  std::vector<Account> accounts;
  accounts.push_back(sample("alice@id.example.com", "alice"));
  accounts.push_back(sample("bob@id.example.com", "bob"));
  ASSERT_TRUE(store.save(accounts));
  EXPECT_EQ(mode_of(store.path()), 0600u);
  EXPECT_EQ(mode_of(root_ + "/cfg/twostep-auth"), 0700u);
  auto back = store.load();
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[1].account, "bob");
  EXPECT_EQ((*back)[1].secret_key.view(), std::string(64, 'k'));
  EXPECT_EQ((*back)[1].totp_seed.view(), "12345678901234567890");
  EXPECT_EQ((*back)[1].method_id, 7);
}

TEST_F(AccountStoreTest, TightensAnExistingDirectoryAndRefusesAnOpenFile) {
  const std::string dir = root_ + "/twostep-auth";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  AccountStore store(dir);
  std::vector<Account> accounts;
  accounts.push_back(sample("a", "alice"));
  ASSERT_TRUE(store.save(accounts));
  EXPECT_EQ(mode_of(dir), 0700u);
  ASSERT_EQ(::chmod(store.path().c_str(), 0644), 0);
  auto r = store.load();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("chmod 600"), std::string::npos) << r.error().message;
}

TEST_F(AccountStoreTest, RefusesDamagedFiles) {
  const std::string dir = root_ + "/twostep-auth";
  AccountStore store(dir);
  std::vector<Account> accounts;
  accounts.push_back(sample("a", "alice"));
  ASSERT_TRUE(store.save(accounts));
  for (const char* bad :
       {"not json", "{\"accounts\": 5}", "{\"accounts\": [{\"name\": \"a\"}]}",
        "{\"accounts\": [{\"name\":\"a\",\"server\":\"s\",\"account\":\"u\","
        "\"device_id\":\"d\",\"secret_key\":\"short\",\"totp_seed\":\"AAAA\"}]}"}) {
    {
      std::ofstream f(store.path(), std::ios::trunc);
      f << bad;
    }
    auto r = store.load();
    EXPECT_FALSE(r) << bad;
  }
}

TEST(SelectAccountTest, ByNamePrefixOrUsernameAndOnlyWhenUnambiguous) {
  std::vector<Account> all;
  EXPECT_EQ(select_account(all, "").error().reason, "no_accounts");
  Account a;
  a.name = "alice@one.example";
  a.account = "alice";
  all.push_back(std::move(a));
  EXPECT_EQ((*select_account(all, ""))->name, "alice@one.example");
  Account b;
  b.name = "alice@two.example";
  b.account = "alice";
  all.push_back(std::move(b));
  Account c;
  c.name = "carol@one.example";
  c.account = "carol";
  all.push_back(std::move(c));
  EXPECT_EQ(select_account(all, "").error().reason, "ambiguous");
  EXPECT_EQ(select_account(all, "alice").error().reason, "ambiguous");
  EXPECT_EQ((*select_account(all, "alice@two.example"))->name, "alice@two.example");
  EXPECT_EQ((*select_account(all, "alice@t"))->name, "alice@two.example");
  EXPECT_EQ((*select_account(all, "carol"))->name, "carol@one.example");
  auto none = select_account(all, "dave");
  EXPECT_EQ(none.error().reason, "no_such_account");
  EXPECT_NE(none.error().message.find("carol@one.example"), std::string::npos);
}

TEST(UniqueNameTest, UserAtHostWithANumberWhenTaken) {
  std::vector<Account> all;
  EXPECT_EQ(unique_name(all, "alice", "https://id.example.com:8443/"), "alice@id.example.com:8443");
  Account a;
  a.name = "alice@h";
  all.push_back(std::move(a));
  EXPECT_EQ(unique_name(all, "alice", "http://h"), "alice@h #2");
}

}  // namespace
}  // namespace twostep::authenticator
