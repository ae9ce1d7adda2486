// The `twostep` command line: serve, migrate, user management, version.
#pragma once

namespace twostep::cli {

int run(int argc, char** argv);

}  // namespace twostep::cli
