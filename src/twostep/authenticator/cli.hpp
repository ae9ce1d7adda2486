// The `twostep-auth` command: enrol, list, offline codes, watch and answer sign-in requests.
#pragma once

namespace twostep::authenticator {

int run(int argc, char** argv);

}  // namespace twostep::authenticator
