// The store contract for text and bytes, on every backend: UTF-8 text round-trips exactly,
// usernames fold ASCII case only (SQLite's NOCASE, PostgreSQL's lower() under "C"), opaque values
// (throttle keys, method secrets) keep every byte, and limits behave the same. Written against the
// Store interface only, like store_contract_test.cpp.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "backends.hpp"
#include "twostep/store/store.hpp"

namespace twostep::store {
namespace {

using contract::StoreFactory;
using contract::TestDatabase;
using core::Code;

constexpr int64_t kNow = 1'700'000'000;

template <class T>
T must(core::Result<T> r) {
  if (!r) {
    throw std::runtime_error("unexpected error: " + r.error().message + " / " + r.error().detail);
  }
  return std::move(*r);
}

class TextContract : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    db_ = GetParam().make();
    store_ = must(open_store(db_->url()));
    must(store_->migrate());
  }
  Store& store() { return *store_; }

  std::unique_ptr<TestDatabase> db_;  // outlives store_
  std::unique_ptr<Store> store_;
};

TEST_P(TextContract, Utf8TextRoundTripsExactly) {
  const std::string ua = "Mozilla/5.0 (X11; Linux) \xE2\x80\x94 \xF0\x9F\x94\x91 caf\xC3\xA9";
  User u = must(store().create_user("alice", "$argon2id$v=19$m=19456,t=2,p=1$x$y", kNow));
  Session s;
  s.token_hash = "t";
  s.user_id = u.id;
  s.user_agent = ua;
  s.ip = "2001:db8::1";
  EXPECT_EQ(must(store().create_session(s)).user_agent, ua);
  EXPECT_EQ(must(store().session_by_token_hash("t")).ip, "2001:db8::1");

  Method m;
  m.user_id = u.id;
  m.type = "totp";
  m.label = "T\xC3\xA9l\xC3\xA9phone \xF0\x9F\x93\xB1";
  m.params = R"({"name":"\u00e9"})";
  m.created_at = kNow;
  Method created = must(store().create_method(m));
  EXPECT_EQ(must(store().method_of_user(u.id, created.id)).label, m.label);
  EXPECT_EQ(must(store().method_of_user(u.id, created.id)).params, m.params);

  AuditEvent e;
  e.user_id = u.id;
  e.at = kNow;
  e.event = "method_added";
  e.user_agent = ua;
  e.detail = "{\"label\":\"T\xC3\xA9l\xC3\xA9phone\"}";
  ASSERT_TRUE(store().append_audit(e));
  auto events = must(store().audit_of_user(u.id, 0));  // 0: no limit
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].user_agent, ua);
  EXPECT_EQ(events[0].detail, e.detail);
}

TEST_P(TextContract, UsernamesFoldAsciiCaseOnly) {
  User alice = must(store().create_user("alice", "h", kNow));
  EXPECT_EQ(must(store().user_by_name("ALICE")).id, alice.id);
  EXPECT_EQ(must(store().user_by_name("aLiCe")).id, alice.id);
  EXPECT_EQ(must(store().user_by_name("alice")).username,
            "alice");  // stored as given

  // Beyond ASCII, case is not folded (canonical usernames are ASCII anyway).
  User upper = must(store().create_user("\xC3\x89lodie", "h", kNow));  // Élodie
  User lower = must(store().create_user("\xC3\xA9lodie", "h", kNow));  // élodie
  EXPECT_NE(upper.id, lower.id);
  EXPECT_EQ(must(store().user_by_name("\xC3\xA9LODIE")).id, lower.id);  // éLODIE
  EXPECT_EQ(store().user_by_name("alice ").error().code, Code::kNotFound);
}

TEST_P(TextContract, ThrottleKeysAreOpaqueBytes) {
  // Keys embed client input as typed (a username cut at 64 bytes, maybe mid-character).
  const std::string odd = std::string("login:user:\xE2\x82\0x\xFF", 16);
  const std::string near = std::string("login:user:\xE2\x82\0y\xFF", 16);
  Throttle t = must(store().throttle_hit(odd, kNow, 60, 10, 60));
  EXPECT_EQ(t.key, odd);
  EXPECT_EQ(t.count, 1);
  EXPECT_EQ(must(store().throttle_hit(odd, kNow + 1, 60, 10, 60)).count, 2);
  EXPECT_EQ(must(store().throttle_get(odd)).count, 2);
  EXPECT_EQ(must(store().throttle_get(near)).count, 0);
  EXPECT_EQ(must(store().throttle_hit(near, kNow, 60, 10, 60)).count, 1);
  ASSERT_TRUE(store().throttle_clear(odd));
  EXPECT_EQ(must(store().throttle_get(odd)).count, 0);
  EXPECT_EQ(must(store().throttle_get(near)).count, 1);
}

TEST_P(TextContract, MethodSecretsKeepEveryByte) {
  User u = must(store().create_user("alice", "h", kNow));
  std::string secret;
  for (int i = 0; i < 256; ++i) {
    secret.push_back(static_cast<char>(i));
  }
  Method m;
  m.user_id = u.id;
  m.type = "totp";
  m.secret = secret;
  m.created_at = kNow;
  Method created = must(store().create_method(m));
  EXPECT_EQ(created.secret, secret);
  EXPECT_EQ(must(store().method_of_user(u.id, created.id)).secret, secret);
  m.secret.clear();
  EXPECT_EQ(must(store().create_method(m)).secret, "");
}

TEST_P(TextContract, PushDeviceIdsAreOpaqueBytes) {
  // The X-Twostep-Device header is looked up as sent: bytes that are not UTF-8 (or a NUL) find
  // nothing, on every backend, rather than failing as text the database refuses.
  User u = must(store().create_user("alice", "h", kNow));
  Method m;
  m.user_id = u.id;
  m.type = "push";
  m.created_at = kNow;
  Method method = must(store().create_method(m));
  PushDevice d;
  d.method_id = method.id;
  d.user_id = u.id;
  d.device_id = "dev-\x01";
  d.public_key = std::string("\0\xff", 2);
  d.name = "phone";
  d.created_at = kNow;
  must(store().attach_push_device(d, "sealed"));
  EXPECT_EQ(must(store().push_device_by_device_id("dev-\x01")).public_key, d.public_key);
  for (const std::string& junk :
       {std::string("\xff\xfe"), std::string("dev\0x", 5), std::string("\xc3\x28")}) {
    auto r = store().push_device_by_device_id(junk);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Code::kNotFound);
  }
}

TEST_P(TextContract, LargeAndNegativeIntegersRoundTrip) {
  User u = must(store().create_user("alice", "h", kNow));
  Session s;
  s.token_hash = "t";
  s.user_id = u.id;
  s.created_at = -1;
  s.expires_at = INT64_MAX;
  s.absolute_expires_at = INT64_MIN;
  s.failed_attempts = 2'000'000'000;
  Session got = must(store().create_session(s));
  EXPECT_EQ(got.created_at, -1);
  EXPECT_EQ(got.expires_at, INT64_MAX);
  EXPECT_EQ(got.absolute_expires_at, INT64_MIN);
  EXPECT_EQ(got.failed_attempts, 2'000'000'000);

  Method m;
  m.user_id = u.id;
  m.type = "hotp";
  m.created_at = kNow;
  m.last_step = -1;
  Method created = must(store().create_method(m));
  EXPECT_EQ(created.last_step, -1);
  EXPECT_TRUE(must(store().advance_method_step(created.id, int64_t{1} << 40, kNow)));
  EXPECT_EQ(must(store().method_of_user(u.id, created.id)).last_step, int64_t{1} << 40);
}

INSTANTIATE_TEST_SUITE_P(Backends, TextContract, ::testing::ValuesIn(contract::store_factories()),
                         [](const ::testing::TestParamInfo<StoreFactory>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace twostep::store
