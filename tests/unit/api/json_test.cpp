// api/json: the shared reply helpers.
#include "twostep/api/json.hpp"

#include <gtest/gtest.h>

namespace twostep::api {
namespace {

TEST(StoredObjectTest, AnObjectComesBackAsItIs) {
  EXPECT_EQ(stored_object(R"({"username":"alice","n":3})"),
            (json{{"username", "alice"}, {"n", 3}}));
}

TEST(StoredObjectTest, BytesThatAreNotUtf8BecomeReplacementCharactersNotAnEmptyObject) {
  // A typed name cut mid-character ("é" is C3 A9): SQLite kept the lone C3.
  const json got = stored_object("{\"username\":\"caf\xC3\",\"reason\":\"unknown\"}");
  ASSERT_TRUE(got.is_object());
  EXPECT_EQ(got.value("username", ""), "caf\xEF\xBF\xBD");
  EXPECT_EQ(got.value("reason", ""), "unknown");
}

TEST(StoredObjectTest, AnythingButAnObjectIsAnEmptyObject) {
  for (const char* text : {"", "not json", "[1,2]", "\"text\"", "42", "{\"open\":"}) {
    EXPECT_EQ(stored_object(text), json::object()) << text;
  }
}

}  // namespace
}  // namespace twostep::api
