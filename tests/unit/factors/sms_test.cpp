// Number rules for SMS codes over a table of real-format numbers, the masked form, the
// configured region list, and the codes and message text.
#include <gtest/gtest.h>

#include <ostream>
#include <regex>
#include <set>

#include "twostep/factors/sms/code.hpp"
#include "twostep/factors/sms/phone.hpp"

namespace twostep::factors::sms {
namespace {

const std::vector<std::string> kDefault = {"CH", "FR", "BE", "DE"};

struct Accepted {
  const char* input;
  const char* hint;
  const char* e164;
  const char* region;
  const char* masked;
};

void PrintTo(const Accepted& a, std::ostream* os) { *os << '"' << a.input << "\" hint " << a.hint; }

class SmsPhoneAccepted : public ::testing::TestWithParam<Accepted> {};

TEST_P(SmsPhoneAccepted, ParsesToE164AndMasks) {
  const Accepted& a = GetParam();
  auto n = parse_phone(a.input, a.hint, kDefault);
  ASSERT_TRUE(n) << a.input << ": " << n.error().reason << " " << n.error().message;
  EXPECT_EQ(n->e164, a.e164);
  EXPECT_EQ(n->region, a.region);
  EXPECT_EQ(n->masked, a.masked);
}

INSTANTIATE_TEST_SUITE_P(
    RealNumbers, SmsPhoneAccepted,
    ::testing::Values(
        // Switzerland: Swisscom 079, Sunrise 076, Salt 078; E.164, spaced, 00-prefix, national.
        Accepted{"+41 79 123 45 67", "", "+41791234567", "CH",
                 "+41 \u2022\u2022 \u2022\u2022\u2022 \u2022\u2022 67"},
        Accepted{"+41791234567", "", "+41791234567", "CH",
                 "+41 \u2022\u2022 \u2022\u2022\u2022 \u2022\u2022 67"},
        Accepted{"0041 79 123 45 67", "", "+41791234567", "CH",
                 "+41 \u2022\u2022 \u2022\u2022\u2022 \u2022\u2022 67"},
        Accepted{"079 123 45 67", "CH", "+41791234567", "CH",
                 "+41 \u2022\u2022 \u2022\u2022\u2022 \u2022\u2022 67"},
        Accepted{"079/123.45.67", "ch", "+41791234567", "CH",
                 "+41 \u2022\u2022 \u2022\u2022\u2022 \u2022\u2022 67"},
        Accepted{"+41 76 123 45 98", "", "+41761234598", "CH",
                 "+41 \u2022\u2022 \u2022\u2022\u2022 \u2022\u2022 98"},
        Accepted{"+41 78 000 00 12", "", "+41780000012", "CH",
                 "+41 \u2022\u2022 \u2022\u2022\u2022 \u2022\u2022 12"},
        // France: 06 and 07 mobiles; a national number with a French hint.
        Accepted{"+33 6 12 34 56 78", "", "+33612345678", "FR",
                 "+33 \u2022 \u2022\u2022 \u2022\u2022 \u2022\u2022 78"},
        Accepted{"06 12 34 56 78", "FR", "+33612345678", "FR",
                 "+33 \u2022 \u2022\u2022 \u2022\u2022 \u2022\u2022 78"},
        Accepted{"+33 7 81 23 45 67", "", "+33781234567", "FR",
                 "+33 \u2022 \u2022\u2022 \u2022\u2022 \u2022\u2022 67"},
        // Belgium: 047x/048x/049x mobiles.
        Accepted{"+32 470 12 34 56", "", "+32470123456", "BE",
                 "+32 \u2022\u2022\u2022 \u2022\u2022 \u2022\u2022 56"},
        Accepted{"0470 12 34 56", "BE", "+32470123456", "BE",
                 "+32 \u2022\u2022\u2022 \u2022\u2022 \u2022\u2022 56"},
        Accepted{"+32 495 99 88 77", "", "+32495998877", "BE",
                 "+32 \u2022\u2022\u2022 \u2022\u2022 \u2022\u2022 77"},
        // Germany: 015x/016x/017x mobiles, national with the trunk 0.
        Accepted{"+49 151 23456789", "", "+4915123456789", "DE",
                 "+49 \u2022\u2022\u2022\u2022 \u2022\u2022\u2022\u2022\u202289"},
        Accepted{"01512 3456789", "DE", "+4915123456789", "DE",
                 "+49 \u2022\u2022\u2022\u2022 \u2022\u2022\u2022\u2022\u202289"},
        Accepted{"+49 (0)171 1234567", "", "+491711234567", "DE",
                 "+49 \u2022\u2022\u2022 \u2022\u2022\u2022\u2022\u202267"},
        // A hint never overrides an explicit country code.
        Accepted{"+33 6 12 34 56 78", "CH", "+33612345678", "FR",
                 "+33 \u2022 \u2022\u2022 \u2022\u2022 \u2022\u2022 78"}));

struct Refused {
  const char* input;
  const char* hint;
  const char* reason;
};

void PrintTo(const Refused& r, std::ostream* os) { *os << '"' << r.input << "\" hint " << r.hint; }

class SmsPhoneRefused : public ::testing::TestWithParam<Refused> {};

TEST_P(SmsPhoneRefused, SaysWhy) {
  const Refused& r = GetParam();
  auto n = parse_phone(r.input, r.hint, kDefault);
  ASSERT_FALSE(n) << r.input << " was accepted as " << n->e164;
  EXPECT_EQ(n.error().reason, r.reason) << r.input << ": " << n.error().message;
  EXPECT_EQ(n.error().code, core::Code::kInvalidArgument);
  EXPECT_FALSE(n.error().message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    RealNumbers, SmsPhoneRefused,
    ::testing::Values(
        // Other countries, mobile or not (the US plan cannot tell mobile from fixed).
        Refused{"+1 202 555 0123", "", "sms_region_not_allowed"},
        Refused{"+1 650 253 0000", "", "sms_region_not_allowed"},
        Refused{"(202) 555-0123", "US", "sms_region_not_allowed"},
        Refused{"+44 7400 123456", "", "sms_region_not_allowed"},
        Refused{"07400 123456", "GB", "sms_region_not_allowed"},
        Refused{"+44 20 7946 0958", "", "sms_region_not_allowed"},
        Refused{"+39 312 345 6789", "", "sms_region_not_allowed"},
        Refused{"+43 664 1234567", "", "sms_region_not_allowed"},
        // Fixed lines of allowed countries.
        Refused{"+41 44 668 18 00", "", "sms_not_mobile"},
        Refused{"044 668 18 00", "CH", "sms_not_mobile"},
        Refused{"+33 1 42 68 53 00", "", "sms_not_mobile"},
        Refused{"+32 2 555 12 12", "", "sms_not_mobile"},
        Refused{"+49 30 123456", "", "sms_not_mobile"},
        // Premium rate, toll free, VoIP.
        Refused{"+41 900 123 456", "", "sms_not_mobile"},
        Refused{"0900 123 456", "CH", "sms_not_mobile"},
        Refused{"+33 8 99 12 34 56", "", "sms_not_mobile"},
        Refused{"+49 900 1234567", "", "sms_not_mobile"},
        Refused{"+41 800 123 456", "", "sms_not_mobile"},
        Refused{"+33 9 72 12 34 56", "", "sms_not_mobile"},
        // Malformed.
        Refused{"", "", "invalid_phone"}, Refused{"   ", "CH", "invalid_phone"},
        Refused{"abc", "CH", "invalid_phone"}, Refused{"12", "CH", "invalid_phone"},
        Refused{"+41 79 123", "", "invalid_phone"},
        Refused{"+4179123456789012", "", "invalid_phone"},
        Refused{"+41 79 123 45 6a", "", "invalid_phone"},
        Refused{"1-800-FLOWERS", "US", "invalid_phone"},
        Refused{"+41 79 123 45 67 ext. 2", "", "invalid_phone"},
        Refused{"+41\n791234567", "", "invalid_phone"},
        Refused{"\uff0b\uff14\uff11\uff17\uff19\uff11\uff12\uff13\uff14\uff15\uff16\uff17", "",
                "invalid_phone"},
        Refused{"+41 79 123 45 67 00 00 00 00 00 00", "", "invalid_phone"},  // > 32 characters
        Refused{"+999 123 456 789", "", "invalid_phone"},
        // National form needs the country.
        Refused{"079 123 45 67", "", "invalid_phone"},
        // Bad hints.
        Refused{"079 123 45 67", "XX", "invalid_request"},
        Refused{"079 123 45 67", "CHE", "invalid_request"},
        Refused{"079 123 45 67", "4", "invalid_request"}));

TEST(SmsPhoneTest, RefusalNamesTheAllowedCountries) {
  auto n = parse_phone("+44 7400 123456", "", kDefault);
  ASSERT_FALSE(n);
  EXPECT_NE(n.error().message.find("Switzerland, France, Belgium or Germany"), std::string::npos)
      << n.error().message;
  auto one = parse_phone("+44 7400 123456", "", {"CH"});
  ASSERT_FALSE(one);
  EXPECT_NE(one.error().message.find("in Switzerland."), std::string::npos) << one.error().message;
}

TEST(SmsPhoneTest, NotMobileSaysWhatTheNumberIs) {
  EXPECT_NE(parse_phone("+41 900 123 456", "", kDefault).error().message.find("premium-rate"),
            std::string::npos);
  EXPECT_NE(parse_phone("+41 44 668 18 00", "", kDefault).error().message.find("fixed-line"),
            std::string::npos);
}

TEST(SmsPhoneTest, FixedLineOrMobileCountsAsMobile) {
  // In the US plan a number can be either: allowed when the region is.
  auto n = parse_phone("+1 202 555 0123", "", {"US"});
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->e164, "+12025550123");
  EXPECT_EQ(n->region, "US");
  EXPECT_EQ(n->masked, "+1 \u2022\u2022\u2022-\u2022\u2022\u2022-\u2022\u202223");
}

TEST(SmsPhoneTest, AllowedListDecides) {
  EXPECT_TRUE(parse_phone("+44 7400 123456", "", {"GB"}));
  auto ch_only = parse_phone("+33 6 12 34 56 78", "", {"CH"});
  ASSERT_FALSE(ch_only);
  EXPECT_EQ(ch_only.error().reason, "sms_region_not_allowed");
  EXPECT_FALSE(parse_phone("+41 79 123 45 67", "", {}));
}

TEST(SmsPhoneTest, MaskKeepsCountryCodeAndLastTwoDigits) {
  EXPECT_EQ(mask_international("+41 79 123 45 67"),
            "+41 \u2022\u2022 \u2022\u2022\u2022 \u2022\u2022 67");
  EXPECT_EQ(mask_international("+33 6 12 34 56 78"),
            "+33 \u2022 \u2022\u2022 \u2022\u2022 \u2022\u2022 78");
  EXPECT_EQ(mask_international("+41 7"), "+41 7");
  EXPECT_EQ(mask_international(""), "");
}

TEST(SmsPhoneTest, ConfiguredRegionsAreChecked) {
  EXPECT_TRUE(check_regions({"CH", "FR", "BE", "DE"}));
  EXPECT_TRUE(check_regions({"LI"}));
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {}, {"XX"}, {"ch"}, {"CHE"}, {"CH", "CH"}, {"CH", ""}, {"UK"}}) {
    auto st = check_regions(bad);
    ASSERT_FALSE(st) << ::testing::PrintToString(bad);
    EXPECT_EQ(st.error().reason, "invalid_config");
    EXPECT_NE(st.error().message.find("sms.allowed_regions"), std::string::npos);
  }
}

TEST(SmsPhoneTest, RegionNamesAndCallingCodes) {
  EXPECT_EQ(calling_code("CH"), 41);
  EXPECT_EQ(calling_code("DE"), 49);
  EXPECT_EQ(calling_code("XX"), 0);
  EXPECT_EQ(calling_code("ch"), 0);
  EXPECT_EQ(region_name("BE"), "Belgium");
  EXPECT_EQ(region_name("KZ"), "KZ");
  EXPECT_EQ(region_list({"CH"}), "Switzerland");
  EXPECT_EQ(region_list({"CH", "DE"}), "Switzerland or Germany");
}

TEST(SmsCodeTest, CodesAreSixDigitsAndVary) {
  const std::regex six("[0-9]{6}");
  std::set<std::string> seen;
  std::set<char> first_digits;
  for (int i = 0; i < 500; ++i) {
    std::string c = generate_code();
    ASSERT_TRUE(std::regex_match(c, six)) << c;
    seen.insert(c);
    first_digits.insert(c[0]);
  }
  EXPECT_GT(seen.size(), 490u);         // 500 draws from 10^6: collisions are rare
  EXPECT_EQ(first_digits.size(), 10u);  // leading zeros are kept
}

TEST(SmsCodeTest, NormalizeAcceptsWhatPeopleType) {
  EXPECT_EQ(normalize_code("123456"), "123456");
  EXPECT_EQ(normalize_code("123 456"), "123456");
  EXPECT_EQ(normalize_code(" 123-456 "), "123456");
  EXPECT_EQ(normalize_code("004217"), "004217");
  for (const char* bad : {"", "12345", "1234567", "12345a", "١٢٣٤٥٦", "123456\n", "+123456",
                          "123 4567", "1234567890123456789012345678901234567890"}) {
    EXPECT_FALSE(normalize_code(bad)) << bad;
  }
}

TEST(SmsCodeTest, MessageCarriesCodeLifetimeAndOriginLine) {
  std::string t = message_text("042137", "twostep", "id.example.com", 300);
  EXPECT_EQ(t.rfind("042137 is your twostep verification code.", 0), 0u) << t;
  EXPECT_NE(t.find("expires in 5 minutes"), std::string::npos) << t;
  // The WebOTP line is the last line: "@host #code".
  EXPECT_EQ(t.substr(t.rfind('\n') + 1), "@id.example.com #042137");
  std::string no_host = message_text("042137", "Acme", "", 60);
  EXPECT_EQ(no_host.find('@'), std::string::npos);
  EXPECT_NE(no_host.find("1 minute."), std::string::npos) << no_host;
  EXPECT_LE(t.size(), 160u);  // one SMS segment (GSM-7)
}

}  // namespace
}  // namespace twostep::factors::sms
