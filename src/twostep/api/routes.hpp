// The route areas. Each capability adds one factory here and one line in routes.cpp.
#pragma once

#include <memory>

#include "twostep/api/area.hpp"

namespace twostep::api {

std::unique_ptr<Area> make_account_routes(ApiContext& ctx);
std::unique_ptr<Area> make_twofa_routes(ApiContext& ctx);
std::unique_ptr<Area> make_sms_routes(ApiContext& ctx);
std::unique_ptr<Area> make_org_routes(ApiContext& ctx);
std::unique_ptr<Area> make_security_key_routes(ApiContext& ctx);
std::unique_ptr<Area> make_app_password_routes(ApiContext& ctx);
std::unique_ptr<Area> make_push_routes(ApiContext& ctx);

}  // namespace twostep::api
