#include "twostep/http/message.hpp"

#include <gtest/gtest.h>

namespace twostep::http {
namespace {

TEST(MessageTest, PercentDecode) {
  EXPECT_EQ(percent_decode("a%20b%2Fc", false), "a b/c");
  EXPECT_EQ(percent_decode("a+b", false), "a+b");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("%e2%82%AC", false), "\xe2\x82\xac");
  // Malformed escapes are kept as written.
  EXPECT_EQ(percent_decode("100%", false), "100%");
  EXPECT_EQ(percent_decode("%zz%4", false), "%zz%4");
  EXPECT_EQ(percent_decode("", false), "");
}

TEST(MessageTest, Iequals) {
  EXPECT_TRUE(iequals("Content-Type", "content-type"));
  EXPECT_FALSE(iequals("Content-Type", "content-typ"));
  EXPECT_FALSE(iequals("a", "b"));
  EXPECT_TRUE(iequals("", ""));
}

TEST(MessageTest, HeaderLookupIsCaseInsensitive) {
  Request r;
  r.headers = {{"x-csrf-token", "t1"}, {"x-csrf-token", "t2"}};
  ASSERT_TRUE(r.header("X-CSRF-Token"));
  EXPECT_EQ(*r.header("X-CSRF-Token"), "t1");
  EXPECT_FALSE(r.header("cookie"));
}

TEST(MessageTest, Cookies) {
  Request r;
  r.headers = {{"cookie", "a=1; twostep_session=abc; empty=; q=\"quoted\""}, {"cookie", "later=2"}};
  EXPECT_EQ(r.cookie("twostep_session"), "abc");
  EXPECT_EQ(r.cookie("a"), "1");
  EXPECT_EQ(r.cookie("empty"), "");
  EXPECT_EQ(r.cookie("q"), "quoted");
  EXPECT_EQ(r.cookie("later"), "2");
  EXPECT_FALSE(r.cookie("A"));  // names are case-sensitive
  EXPECT_FALSE(r.cookie("missing"));
  EXPECT_FALSE(r.cookie("twostep"));
}

TEST(MessageTest, QueryParams) {
  Request r;
  r.query = "a=1&b=x%20y&c=p+q&flag&&d%5B%5D=z";
  EXPECT_EQ(r.query_param("a"), "1");
  EXPECT_EQ(r.query_param("b"), "x y");
  EXPECT_EQ(r.query_param("c"), "p q");
  EXPECT_EQ(r.query_param("flag"), "");
  EXPECT_EQ(r.query_param("d[]"), "z");
  EXPECT_FALSE(r.query_param("zz"));
}

TEST(MessageTest, ResponseHeaders) {
  Response r = Response::json(201, "{}");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.get("content-type"), "application/json");
  r.add("Set-Cookie", "a=1");
  r.add("Set-Cookie", "b=2");
  EXPECT_EQ(r.headers.size(), 3u);
  r.set("set-cookie", "c=3");  // replaces all of that name
  EXPECT_EQ(r.headers.size(), 2u);
  EXPECT_EQ(r.get("Set-Cookie"), "c=3");
  EXPECT_FALSE(r.get("Location"));
  EXPECT_FALSE(r.stream);

  Response t = Response::text(200, "hi");
  EXPECT_EQ(t.get("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(t.body, "hi");
}

}  // namespace
}  // namespace twostep::http
