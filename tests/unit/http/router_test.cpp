#include "twostep/http/router.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace twostep::http {
namespace {

namespace net = boost::asio;

Handler tagged(std::string tag) {
  return [tag](Request&) -> net::awaitable<Response> { co_return Response::text(200, tag); };
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.add("GET", "/api/v1/sessions", tagged("list"));
    router_.add("DELETE", "/api/v1/sessions/{id}", tagged("revoke"));
    router_.add("POST", "/api/v1/methods/totp", tagged("totp"));
    router_.add("POST", "/api/v1/methods/{id}/confirm", tagged("confirm"));
    router_.add("DELETE", "/api/v1/methods/{id}", tagged("remove"));
    router_.add("POST", "/api/v1/methods/{id}", tagged("other"));
    router_.add("GET", "/", tagged("root"));
  }
  Router router_;
};

TEST_F(RouterTest, MatchesLiteralRoute) {
  auto m = router_.match("GET", "/api/v1/sessions");
  EXPECT_EQ(m.status, 200);
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.pattern, "/api/v1/sessions");
  EXPECT_TRUE(m.params.empty());
}

TEST_F(RouterTest, MatchesRoot) {
  auto m = router_.match("GET", "/");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.pattern, "/");
}

TEST_F(RouterTest, CapturesParams) {
  auto m = router_.match("DELETE", "/api/v1/sessions/abc123");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.pattern, "/api/v1/sessions/{id}");
  EXPECT_EQ(m.params.at("id"), "abc123");

  auto c = router_.match("POST", "/api/v1/methods/m7/confirm");
  ASSERT_NE(c.handler, nullptr);
  EXPECT_EQ(c.params.at("id"), "m7");
}

TEST_F(RouterTest, UnknownPathIs404) {
  for (const char* p : {"/nope", "/api/v1/sessions/a/b", "/api/v1/sessions/", "/api/v1",
                        "/api/v1/sessions//", ""}) {
    auto m = router_.match("GET", p);
    EXPECT_EQ(m.status, 404) << p;
    EXPECT_EQ(m.handler, nullptr) << p;
  }
}

TEST_F(RouterTest, EmptySegmentNeverFillsAParam) {
  auto m = router_.match("DELETE", "/api/v1/sessions/");
  EXPECT_EQ(m.status, 404);
}

TEST_F(RouterTest, OtherMethodIs405WithAllow) {
  auto m = router_.match("POST", "/api/v1/sessions");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_EQ(m.allow, "GET, HEAD");

  auto d = router_.match("PUT", "/api/v1/methods/x");
  EXPECT_EQ(d.status, 405);
  EXPECT_EQ(d.allow, "DELETE, POST");
}

TEST_F(RouterTest, HeadMatchesGet) {
  auto m = router_.match("HEAD", "/api/v1/sessions");
  EXPECT_EQ(m.status, 200);
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.pattern, "/api/v1/sessions");
  // HEAD does not match other methods.
  EXPECT_EQ(router_.match("HEAD", "/api/v1/sessions/x").status, 405);
}

TEST_F(RouterTest, LiteralSegmentBeatsParam) {
  auto m = router_.match("POST", "/api/v1/methods/totp");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.pattern, "/api/v1/methods/totp");
  EXPECT_TRUE(m.params.empty());
  auto o = router_.match("POST", "/api/v1/methods/sms");
  ASSERT_NE(o.handler, nullptr);
  EXPECT_EQ(o.pattern, "/api/v1/methods/{id}");
  EXPECT_EQ(o.params.at("id"), "sms");
}

TEST_F(RouterTest, MethodIsCaseSensitive) {
  EXPECT_EQ(router_.match("get", "/api/v1/sessions").status, 405);
}

TEST_F(RouterTest, FallbackServesOnlyUnknownGetAndHead) {
  router_.set_fallback(tagged("static"));
  auto g = router_.match("GET", "/app.js");
  ASSERT_NE(g.handler, nullptr);
  EXPECT_EQ(g.pattern, "fallback");
  EXPECT_NE(router_.match("HEAD", "/index.html").handler, nullptr);
  EXPECT_EQ(router_.match("POST", "/app.js").status, 404);
  // A known path keeps its 405.
  EXPECT_EQ(router_.match("GET", "/api/v1/methods/totp").status, 405);
}

// The literal route of another method does not hide a parameter route of this method.
TEST_F(RouterTest, LiteralPathOfOtherMethodFallsBackToParam) {
  auto m = router_.match("DELETE", "/api/v1/methods/totp");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.pattern, "/api/v1/methods/{id}");
  EXPECT_EQ(m.params.at("id"), "totp");
}

TEST_F(RouterTest, IndexNamesTheMatchedRoute) {
  for (auto [method, path] :
       {std::pair{"GET", "/api/v1/sessions"}, std::pair{"DELETE", "/api/v1/sessions/abc"},
        std::pair{"POST", "/api/v1/methods/totp"}, std::pair{"GET", "/"}}) {
    auto m = router_.match(method, path);
    ASSERT_NE(m.handler, nullptr) << path;
    ASSERT_LT(m.index, router_.size()) << path;
    EXPECT_EQ(router_.pattern(m.index), m.pattern) << path;
  }
  EXPECT_EQ(router_.match("GET", "/nope").index, Router::kNoRoute);
  EXPECT_EQ(router_.match("POST", "/api/v1/sessions").index, Router::kNoRoute);
  router_.set_fallback(tagged("static"));
  EXPECT_EQ(router_.match("GET", "/app.js").index, Router::kNoRoute);
}

// HEAD finds the GET route, unless a HEAD route of the same path was registered first.
TEST(RouterHeadTest, FirstRegisteredOfGetAndHeadWins) {
  Router r;
  r.add("HEAD", "/x", tagged("head"));
  r.add("GET", "/x", tagged("get"));
  EXPECT_EQ(r.match("HEAD", "/x").index, 0u);
  EXPECT_EQ(r.match("GET", "/x").index, 1u);
}

TEST(RouterAddTest, RejectsBadRoutes) {
  Router r;
  EXPECT_THROW(r.add("GET", "no-slash", tagged("x")), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/a/x{id}", tagged("x")), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/a", Handler{}), std::invalid_argument);
  r.add("GET", "/a", tagged("x"));
  EXPECT_THROW(r.add("GET", "/a", tagged("y")), std::invalid_argument);
  EXPECT_NO_THROW(r.add("POST", "/a", tagged("y")));
}

}  // namespace
}  // namespace twostep::http
