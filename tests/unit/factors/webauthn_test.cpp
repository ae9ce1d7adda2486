// WebAuthn relying-party checks against attestation objects and assertions that a software
// authenticator builds with real OpenSSL keys: every supported algorithm and attestation
// format, and each failure path of the registration and authentication ceremonies.
#include "twostep/factors/webauthn/webauthn.hpp"

#include <gtest/gtest.h>

#include "twostep/crypto/random.hpp"
#include "unit/soft_authenticator.hpp"

namespace twostep::factors::webauthn {
namespace {

using testing::CeremonyOptions;
using testing::SoftCredential;

RelyingParty rp(bool require_uv = false) {
  auto r = relying_party("http://localhost:8080/", {}, require_uv);
  EXPECT_TRUE(r.has_value());
  return *r;
}

std::string challenge() { return crypto::random_bytes(kChallengeSize); }

// The reason of a failed result ("" when it succeeded).
template <class T>
std::string reason(const core::Result<T>& r) {
  return r ? std::string() : r.error().reason;
}

TEST(WebauthnTest, RelyingPartyFromPublicUrl) {
  auto r =
      relying_party("https://ID.Example.com:443/login", {"https://other.example.com:8443"}, true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->id, "id.example.com");
  ASSERT_EQ(r->origins.size(), 2u);
  EXPECT_EQ(r->origins[0], "https://id.example.com");
  EXPECT_EQ(r->origins[1], "https://other.example.com:8443");
  EXPECT_TRUE(r->require_user_verification);
  EXPECT_FALSE(relying_party("ftp://x", {}, false).has_value());
  EXPECT_FALSE(relying_party("https://", {}, false).has_value());
  EXPECT_FALSE(relying_party("https://ok.example", {"https://x.example/path"}, false).has_value());
  EXPECT_FALSE(relying_party("https://ok.example", {"x.example"}, false).has_value());
}

class RegistrationTest : public ::testing::TestWithParam<std::tuple<int, const char*>> {};

TEST_P(RegistrationTest, AcceptsEveryAlgorithmAndFormat) {
  auto [alg, fmt] = GetParam();
  SoftCredential cred(alg);
  std::string ch = challenge();
  auto resp = cred.register_with(ch, fmt);
  auto r = verify_registration(rp(), ch, resp.client_data_json, resp.attestation_object);
  ASSERT_TRUE(r.has_value()) << r.error().reason << " " << r.error().detail;
  EXPECT_EQ(r->credential_id, cred.id());
  EXPECT_EQ(r->alg, alg);
  EXPECT_EQ(r->aaguid, cred.aaguid());
  EXPECT_TRUE(r->user_verified);
  std::string f = fmt;
  EXPECT_EQ(r->fmt, f.rfind("packed", 0) == 0 ? "packed" : f);
  EXPECT_EQ(r->attestation_type, f == "none" ? "none" : f == "packed-self" ? "self" : "basic");

  // The stored key verifies a later assertion.
  std::string ch2 = challenge();
  auto a = cred.assert_with(ch2);
  auto ok = verify_assertion(rp(), ch2, a.client_data_json, a.authenticator_data, a.signature,
                             r->public_key_cose);
  ASSERT_TRUE(ok.has_value()) << ok.error().detail;
}

INSTANTIATE_TEST_SUITE_P(
    AllFormats, RegistrationTest,
    // FIDO U2F keys are P-256 only.
    ::testing::Values(std::tuple(kEs256, "none"), std::tuple(kEs256, "packed-self"),
                      std::tuple(kEs256, "packed-x5c"), std::tuple(kEs256, "fido-u2f"),
                      std::tuple(kRs256, "none"), std::tuple(kRs256, "packed-self"),
                      std::tuple(kRs256, "packed-x5c"), std::tuple(kEdDsa, "none"),
                      std::tuple(kEdDsa, "packed-self"), std::tuple(kEdDsa, "packed-x5c")),
    [](const auto& info) {
      std::string n = std::to_string(-std::get<0>(info.param)) + "_" + std::get<1>(info.param);
      for (char& c : n) {
        if (c == '-') c = '_';
      }
      return n;
    });

TEST(WebauthnTest, RegistrationRefusesWrongChallengeTypeAndOrigin) {
  SoftCredential cred;
  std::string ch = challenge();
  auto other = cred.register_with(challenge());
  EXPECT_EQ(reason(verify_registration(rp(), ch, other.client_data_json, other.attestation_object)),
            "challenge_mismatch");
  CeremonyOptions get_type;
  get_type.type = "webauthn.get";
  auto wrong_type = cred.register_with(ch, "none", get_type);
  EXPECT_EQ(reason(verify_registration(rp(), ch, wrong_type.client_data_json,
                                       wrong_type.attestation_object)),
            "wrong_type");
  CeremonyOptions evil;
  evil.origin = "http://evil.example:8080";
  auto wrong_origin = cred.register_with(ch, "none", evil);
  EXPECT_EQ(reason(verify_registration(rp(), ch, wrong_origin.client_data_json,
                                       wrong_origin.attestation_object)),
            "wrong_origin");
  CeremonyOptions framed;
  framed.cross_origin = true;
  auto cross = cred.register_with(ch, "none", framed);
  EXPECT_EQ(reason(verify_registration(rp(), ch, cross.client_data_json, cross.attestation_object)),
            "wrong_origin");
  // An empty expected challenge (none was issued) never matches.
  auto ok = cred.register_with(ch);
  EXPECT_EQ(reason(verify_registration(rp(), "", ok.client_data_json, ok.attestation_object)),
            "challenge_mismatch");
}

TEST(WebauthnTest, RegistrationRefusesWrongRpIdHashAndMissingFlags) {
  SoftCredential cred;
  std::string ch = challenge();
  CeremonyOptions other_rp;
  other_rp.rp_id = "evil.example";
  auto r1 = cred.register_with(ch, "none", other_rp);
  EXPECT_EQ(reason(verify_registration(rp(), ch, r1.client_data_json, r1.attestation_object)),
            "wrong_rp");
  CeremonyOptions no_up;
  no_up.flags = kFlagUserVerified;
  auto r2 = cred.register_with(ch, "none", no_up);
  EXPECT_EQ(reason(verify_registration(rp(), ch, r2.client_data_json, r2.attestation_object)),
            "user_not_present");
  CeremonyOptions no_uv;
  no_uv.flags = kFlagUserPresent;
  auto r3 = cred.register_with(ch, "none", no_uv);
  EXPECT_TRUE(verify_registration(rp(false), ch, r3.client_data_json, r3.attestation_object));
  EXPECT_EQ(reason(verify_registration(rp(true), ch, r3.client_data_json, r3.attestation_object)),
            "user_not_verified");
}

TEST(WebauthnTest, RegistrationRefusesUnsupportedAlgorithm) {
  SoftCredential cred;
  std::string ch = challenge();
  auto resp = cred.register_with(ch);
  CeremonyOptions o;
  // An ES256 key labelled ES384 (-35), which this relying party does not take.
  std::string ad = cred.auth_data(o, true, cred.key().cose(-35));
  testing::CborOwner stmt(cbor_new_definite_map(0));
  std::string obj = SoftCredential::attestation_object("none", ad, stmt.item);
  EXPECT_EQ(reason(verify_registration(rp(), ch, resp.client_data_json, obj)),
            "unsupported_algorithm");
  EXPECT_EQ(reason(parse_cose_key(cred.key().cose(-257))), "unsupported_algorithm");
}

TEST(WebauthnTest, RegistrationRefusesBadAttestationStatements) {
  SoftCredential cred;
  std::string ch = challenge();
  CeremonyOptions o;
  std::string cdj = testing::client_data_json("webauthn.create", ch, o);
  std::string ad = cred.auth_data(o, true);

  // "none" with a statement.
  testing::CborOwner stmt(cbor_new_definite_map(1));
  testing::map_put(stmt.item, cbor_build_string("sig"), testing::cbor_bytes("x"));
  EXPECT_EQ(reason(verify_registration(rp(), ch, cdj,
                                       SoftCredential::attestation_object("none", ad, stmt.item))),
            "bad_attestation");

  // packed self-attestation signed over other data.
  testing::CborOwner bad_sig(cbor_new_definite_map(2));
  testing::map_put(bad_sig.item, cbor_build_string("alg"), testing::cbor_int(kEs256));
  testing::map_put(bad_sig.item, cbor_build_string("sig"),
                   testing::cbor_bytes(cred.key().sign("something else")));
  EXPECT_EQ(reason(verify_registration(
                rp(), ch, cdj, SoftCredential::attestation_object("packed", ad, bad_sig.item))),
            "bad_attestation");

  // packed x5c whose certificate is a CA, has no FIDO OU, or whose AAGUID extension names
  // another authenticator model; the statement's signature itself is right each time.
  struct BadCert {
    std::string ou;
    bool ca;
    std::string aaguid_ext;
  };
  for (const BadCert& bad :
       {BadCert{"Authenticator Attestation", true, ""}, BadCert{"Something Else", false, ""},
        BadCert{"Authenticator Attestation", false, std::string(16, '\x01')}}) {
    testing::TestKey att(kEs256);
    std::string cert = testing::make_cert(att.pkey(), att.pkey(), bad.ou, bad.ca, bad.aaguid_ext);
    testing::CborOwner x(cbor_new_definite_map(3));
    testing::map_put(x.item, cbor_build_string("alg"), testing::cbor_int(kEs256));
    testing::map_put(x.item, cbor_build_string("sig"),
                     testing::cbor_bytes(att.sign(ad + crypto::sha256(cdj))));
    cbor_item_t* arr = cbor_new_definite_array(1);
    cbor_array_push(arr, cbor_move(testing::cbor_bytes(cert)));
    testing::map_put(x.item, cbor_build_string("x5c"), arr);
    EXPECT_EQ(reason(verify_registration(rp(), ch, cdj,
                                         SoftCredential::attestation_object("packed", ad, x.item))),
              "bad_attestation")
        << bad.ou << " ca=" << bad.ca << " aaguid=" << !bad.aaguid_ext.empty();
  }

  // fido-u2f with an Ed25519 credential key.
  SoftCredential ed(kEdDsa);
  auto u2f_es = cred.register_with(ch, "fido-u2f");
  EXPECT_TRUE(verify_registration(rp(), ch, u2f_es.client_data_json, u2f_es.attestation_object));
  testing::CborOwner u(cbor_new_definite_map(0));
  std::string ed_ad = ed.auth_data(o, true);
  EXPECT_EQ(reason(verify_registration(
                rp(), ch, cdj, SoftCredential::attestation_object("fido-u2f", ed_ad, u.item))),
            "bad_attestation");

  // An unknown format.
  EXPECT_EQ(reason(verify_registration(rp(), ch, cdj,
                                       SoftCredential::attestation_object("tpm", ad, u.item))),
            "unsupported_attestation");
}

TEST(WebauthnTest, MalformedAndTruncatedCborIsRefused) {
  SoftCredential cred;
  std::string ch = challenge();
  auto resp = cred.register_with(ch, "packed-self");
  const std::string& obj = resp.attestation_object;
  for (size_t cut = 0; cut < obj.size(); cut += std::max<size_t>(1, obj.size() / 97)) {
    auto r = verify_registration(rp(), ch, resp.client_data_json, obj.substr(0, cut));
    ASSERT_FALSE(r.has_value()) << "cut at " << cut;
    EXPECT_EQ(r.error().reason, "malformed") << "cut at " << cut;
  }
  EXPECT_EQ(
      reason(verify_registration(rp(), ch, resp.client_data_json, obj + std::string(1, '\0'))),
      "malformed");
  EXPECT_EQ(reason(verify_registration(rp(), ch, resp.client_data_json,
                                       "\xa1\x63"
                                       "fmt")),
            "malformed");
  EXPECT_EQ(reason(verify_registration(rp(), ch, resp.client_data_json, "\x80")), "malformed");
  EXPECT_EQ(reason(verify_registration(rp(), ch, "{", obj)), "malformed");
  EXPECT_EQ(reason(verify_registration(rp(), ch, "[]", obj)), "malformed");
  EXPECT_EQ(reason(verify_registration(
                rp(), ch, R"({"type":"webauthn.create","challenge":"!!","origin":"x"})", obj)),
            "malformed");
  EXPECT_EQ(reason(verify_registration(rp(), ch, std::string(kMaxClientDataJson + 1, ' '), obj)),
            "malformed");
}

TEST(WebauthnTest, HugeDeclaredSizesAreRefusedBeforeAllocating) {
  // Five bytes that claim 2^28 array elements or map pairs, a 4 GiB byte string, deep
  // nesting, and indefinite lengths (which CTAP2 never uses): refused by the pre-scan, so
  // libcbor never allocates for the claim. (Found by the fuzz target.)
  for (std::string bomb :
       {std::string("\x9a\x10\x00\x00\x00", 5), std::string("\xba\x10\x00\x00\x00", 5),
        std::string("\x5a\xff\xff\xff\xff", 5), std::string(64, '\x81') + "\x01",
        std::string("\x9f\x01\xff", 3), std::string("\xbf\x01\x01\xff", 4),
        std::string("\x5f\x41\x00\xff", 4)}) {
    EXPECT_EQ(reason(parse_cose_key(bomb)), "malformed");
    EXPECT_EQ(reason(parse_attestation_object(bomb)), "malformed");
    SoftCredential cred;
    std::string ad = cred.auth_data(CeremonyOptions{}, true, bomb);
    EXPECT_EQ(reason(parse_authenticator_data(ad)), "malformed");
  }
  // Nesting within the limit is fine.
  EXPECT_TRUE(parse_authenticator_data([] {
                SoftCredential cred;
                std::string ext = cred.auth_data(CeremonyOptions{}, false);
                ext[32] = static_cast<char>(ext[32] | kFlagExtensions);
                return ext + "\xa1\x61x" + std::string(8, '\x81') + "\x01";
              }())
                  .has_value());
}

TEST(WebauthnTest, AuthenticatorDataBounds) {
  SoftCredential cred;
  CeremonyOptions o;
  std::string ad = cred.auth_data(o, true);
  auto parsed = parse_authenticator_data(ad);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->credential_id, cred.id());
  EXPECT_EQ(parsed->credential_public_key, cred.key().cose());
  EXPECT_EQ(reason(parse_authenticator_data(ad + "x")), "malformed");  // trailing bytes
  EXPECT_EQ(reason(parse_authenticator_data(ad.substr(0, 36))), "malformed");
  EXPECT_EQ(reason(parse_authenticator_data(ad.substr(0, 60))), "malformed");
  std::string zero_len = ad;
  zero_len[37 + 16] = 0;
  zero_len[37 + 17] = 0;
  EXPECT_EQ(reason(parse_authenticator_data(zero_len)), "malformed");
  std::string huge_len = ad;
  huge_len[37 + 16] = '\xff';
  EXPECT_EQ(reason(parse_authenticator_data(huge_len)), "malformed");
  // Extensions flagged but absent, and present with the flag.
  std::string ext_flag = cred.auth_data(o, false);
  ext_flag[32] = static_cast<char>(ext_flag[32] | kFlagExtensions);
  EXPECT_EQ(reason(parse_authenticator_data(ext_flag)), "malformed");
  EXPECT_TRUE(parse_authenticator_data(ext_flag + "\xa0").has_value());
}

TEST(WebauthnTest, AssertionFailurePaths) {
  SoftCredential cred;
  std::string ch = challenge();
  auto reg = cred.register_with(ch);
  auto r = verify_registration(rp(), ch, reg.client_data_json, reg.attestation_object);
  ASSERT_TRUE(r.has_value());
  const std::string& pk = r->public_key_cose;
  auto check = [&](const testing::Assertion& a, const std::string& expected_ch, bool uv = false) {
    return reason(verify_assertion(rp(uv), expected_ch, a.client_data_json, a.authenticator_data,
                                   a.signature, pk));
  };

  std::string ch2 = challenge();
  EXPECT_EQ(check(cred.assert_with(ch2), ch2), "");
  EXPECT_EQ(check(cred.assert_with(ch2), challenge()), "challenge_mismatch");
  CeremonyOptions create;
  create.type = "webauthn.create";
  EXPECT_EQ(check(cred.assert_with(ch2, create), ch2), "wrong_type");
  CeremonyOptions evil;
  evil.origin = "https://localhost:8080";  // another scheme is another origin
  EXPECT_EQ(check(cred.assert_with(ch2, evil), ch2), "wrong_origin");
  CeremonyOptions other_rp;
  other_rp.rp_id = "example.com";
  EXPECT_EQ(check(cred.assert_with(ch2, other_rp), ch2), "wrong_rp");
  CeremonyOptions no_up;
  no_up.flags = kFlagUserVerified;
  EXPECT_EQ(check(cred.assert_with(ch2, no_up), ch2), "user_not_present");
  CeremonyOptions no_uv;
  no_uv.flags = kFlagUserPresent;
  EXPECT_EQ(check(cred.assert_with(ch2, no_uv), ch2), "");
  EXPECT_EQ(check(cred.assert_with(ch2, no_uv), ch2, /*uv=*/true), "user_not_verified");

  auto a = cred.assert_with(ch2);
  auto tampered = a;
  tampered.signature[tampered.signature.size() / 2] ^= 0x01;
  EXPECT_EQ(check(tampered, ch2), "bad_signature");
  auto other_data = a;
  other_data.authenticator_data[36] ^= 0x01;  // the counter changed after signing
  EXPECT_EQ(check(other_data, ch2), "bad_signature");
  // Another credential's signature over the same data.
  SoftCredential other;
  auto b = other.assert_with(ch2);
  EXPECT_EQ(check(b, ch2), "bad_signature");
  auto empty_sig = a;
  empty_sig.signature.clear();
  EXPECT_EQ(check(empty_sig, ch2), "malformed");
  // A stored key that is not a COSE key (corrupt row) is refused, not trusted.
  EXPECT_EQ(reason(verify_assertion(rp(), ch2, a.client_data_json, a.authenticator_data,
                                    a.signature, "\xa0")),
            "malformed");
}

TEST(WebauthnTest, CounterPolicy) {
  EXPECT_TRUE(counter_ok(0, 0));  // authenticators without a counter
  EXPECT_TRUE(counter_ok(0, 1));
  EXPECT_TRUE(counter_ok(5, 6));
  EXPECT_FALSE(counter_ok(5, 5));  // replayed or cloned
  EXPECT_FALSE(counter_ok(5, 4));  // rollback
  EXPECT_FALSE(counter_ok(5, 0));
}

TEST(WebauthnTest, CoseKeyValidation) {
  testing::TestKey es(kEs256);
  auto ok = parse_cose_key(es.cose());
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->alg(), kEs256);
  EXPECT_EQ(ok->ec_point(), es.ec_point());
  // A point that is not on the curve.
  testing::CborOwner bad(cbor_new_definite_map(5));
  testing::map_put(bad.item, testing::cbor_int(1), testing::cbor_int(2));
  testing::map_put(bad.item, testing::cbor_int(3), testing::cbor_int(kEs256));
  testing::map_put(bad.item, testing::cbor_int(-1), testing::cbor_int(1));
  testing::map_put(bad.item, testing::cbor_int(-2), testing::cbor_bytes(std::string(32, '\x01')));
  testing::map_put(bad.item, testing::cbor_int(-3), testing::cbor_bytes(std::string(32, '\x02')));
  EXPECT_EQ(reason(parse_cose_key(bad.bytes())), "malformed");
  // Duplicate labels.
  std::string dup = es.cose();
  dup[0] = static_cast<char>(0xa6);  // claims six pairs
  dup += "\x01\x02";                 // kty again
  EXPECT_EQ(reason(parse_cose_key(dup)), "malformed");
  EXPECT_EQ(reason(parse_cose_key("")), "malformed");
  EXPECT_EQ(reason(parse_cose_key("\x01")), "malformed");
}

}  // namespace
}  // namespace twostep::factors::webauthn
