#include "twostep/authenticator/cli.hpp"

int main(int argc, char** argv) { return twostep::authenticator::run(argc, argv); }
