// The backend-independent half of the backends' write helpers (store/backend.hpp): how a Write's
// values reach a backend's query, and write_in_transaction's order, results and early return.
// The verbs built on them are covered on every backend by the contract suite.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "twostep/store/backend.hpp"

namespace twostep::store {
namespace {

// Records the binds a backend query would receive, as "kind:value".
struct RecordingQuery {
  std::vector<std::string> binds;
  RecordingQuery& bind_int(int64_t v) { return add("int:" + std::to_string(v)); }
  RecordingQuery& bind_bool(bool v) { return add(v ? "bool:true" : "bool:false"); }
  RecordingQuery& bind_text(std::string_view v) { return add("text:" + std::string(v)); }
  RecordingQuery& bind_blob(std::string_view v) { return add("blob:" + std::string(v)); }
  RecordingQuery& add(std::string s) {
    binds.push_back(std::move(s));
    return *this;
  }
};

std::vector<std::string> binds_of(const Write& w) {
  RecordingQuery q;
  for (const Param& p : w.params) {
    bind_param(q, p);
  }
  return q.binds;
}

TEST(BackendWriteTest, ValuesKeepTheirKindAndOrder) {
  std::string secret("s\0e", 3);
  EXPECT_EQ(binds_of({"", {int64_t{-7}, Text{"name"}, Blob{secret}, Bool{true}, Bool{false}}}),
            (std::vector<std::string>{"int:-7", "text:name", std::string("blob:s\0e", 8),
                                      "bool:true", "bool:false"}));
}

TEST(BackendWriteTest, UnsignedAndNarrowIntegersKeepTheirValue) {
  // Key ids are uint32_t: the largest must not turn negative.
  uint32_t key_id = std::numeric_limits<uint32_t>::max();
  int narrow = -1;
  EXPECT_EQ(binds_of({"", {key_id, narrow, std::numeric_limits<int64_t>::min()}}),
            (std::vector<std::string>{"int:4294967295", "int:-1", "int:-9223372036854775808"}));
}

// A transaction that records what happened to it in `log`.
struct Log {
  std::vector<std::string> events;
  bool fail_begin = false;
  bool fail_commit = false;
};
struct FakeTransaction {
  explicit FakeTransaction(Log& log) : log_(log) {}
  ~FakeTransaction() { log_.events.push_back(committed_ ? "end" : "rollback"); }
  core::Status begin() {
    log_.events.push_back("begin");
    if (log_.fail_begin) return core::fail(core::Code::kUnavailable, "unavailable", "busy");
    return core::ok();
  }
  core::Status commit() {
    log_.events.push_back("commit");
    if (log_.fail_commit) return core::fail(core::Code::kUnavailable, "unavailable", "busy");
    committed_ = true;
    return core::ok();
  }
  Log& log_;
  bool committed_ = false;
};

// Runs a write by logging its SQL; "fail" fails with kAlreadyExists, anything else changes as
// many rows as it has parameters.
core::Result<int> fake_run(Log& log, const Write& w) {
  log.events.push_back(std::string(w.sql));
  if (w.sql == "fail") {
    return core::fail(core::Code::kAlreadyExists, "already_exists", "That already exists.");
  }
  return static_cast<int>(w.params.size());
}

TEST(BackendWriteTest, RunsEveryWriteInOrderInOneTransaction) {
  Log log;
  auto changed = write_in_transaction<FakeTransaction>(
      log, {{"a", {1}}, {"b", {}}, {"c", {1, 2, 3}}}, fake_run);
  ASSERT_TRUE(changed.has_value());
  EXPECT_EQ(*changed, (std::vector<int>{1, 0, 3}));
  EXPECT_EQ(log.events, (std::vector<std::string>{"begin", "a", "b", "c", "commit", "end"}));
}

TEST(BackendWriteTest, FirstErrorStopsAndRollsBack) {
  Log log;
  auto changed =
      write_in_transaction<FakeTransaction>(log, {{"a", {1}}, {"fail", {}}, {"c", {}}}, fake_run);
  ASSERT_FALSE(changed.has_value());
  EXPECT_EQ(changed.error().code, core::Code::kAlreadyExists);  // the statement's own error
  EXPECT_EQ(log.events, (std::vector<std::string>{"begin", "a", "fail", "rollback"}));
}

TEST(BackendWriteTest, FailedBeginOrCommitIsTheResult) {
  Log no_begin;
  no_begin.fail_begin = true;
  auto r = write_in_transaction<FakeTransaction>(no_begin, {{"a", {}}}, fake_run);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, core::Code::kUnavailable);
  EXPECT_EQ(no_begin.events, (std::vector<std::string>{"begin", "rollback"}));

  Log no_commit;
  no_commit.fail_commit = true;
  r = write_in_transaction<FakeTransaction>(no_commit, {{"a", {}}}, fake_run);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, core::Code::kUnavailable);
  EXPECT_EQ(no_commit.events, (std::vector<std::string>{"begin", "a", "commit", "rollback"}));
}

}  // namespace
}  // namespace twostep::store
