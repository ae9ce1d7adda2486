// A standalone stand-in for libFuzzer, linked into each fuzz target in normal (gcc) builds so
// that ctest runs every parser over its corpus and then a fixed number of deterministic
// mutations (fixed seed): a short smoke run, the same on every machine. The `fuzz` preset
// (clang, -fsanitize=fuzzer,address) builds the real fuzzers instead; see tests/fuzz/README.md.
//
//   <target> CORPUS_DIR [MUTATIONS]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// xorshift64*: deterministic, no dependency on the standard library's engines.
struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ULL;
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
};

void run(const std::string& input) {
  // A copy in its own allocation, so that ASan builds catch reads past the end.
  std::vector<uint8_t> buf(input.begin(), input.end());
  LLVMFuzzerTestOneInput(buf.empty() ? nullptr : buf.data(), buf.size());
}

std::string mutate(std::string s, const std::vector<std::string>& corpus, Rng& rng) {
  static const char* const kInteresting[] = {"\x00", "\xff", "\x7f", "\x80", "\x18",
                                             "\x19", "\x1a", "\x1b", "\x9f", "\xbf"};
  int rounds = 1 + static_cast<int>(rng.below(4));
  for (int r = 0; r < rounds; ++r) {
    switch (rng.below(8)) {
      case 0:  // flip a bit
        if (!s.empty()) s[rng.below(s.size())] ^= static_cast<char>(1u << rng.below(8));
        break;
      case 1:  // set a byte to an interesting CBOR/length value
        if (!s.empty()) s[rng.below(s.size())] = kInteresting[rng.below(10)][0];
        break;
      case 2:  // random byte
        if (!s.empty()) s[rng.below(s.size())] = static_cast<char>(rng.next());
        break;
      case 3:  // insert bytes
        s.insert(rng.below(s.size() + 1),
                 std::string(1 + rng.below(8), static_cast<char>(rng.next())));
        break;
      case 4:  // erase a range
        if (!s.empty()) {
          size_t at = rng.below(s.size());
          s.erase(at, 1 + rng.below(std::min<size_t>(16, s.size() - at)));
        }
        break;
      case 5:  // truncate
        s.resize(rng.below(s.size() + 1));
        break;
      case 6:  // duplicate a chunk
        if (!s.empty()) {
          size_t at = rng.below(s.size());
          s.insert(rng.below(s.size() + 1), s.substr(at, 1 + rng.below(32)));
        }
        break;
      default:  // splice with another corpus entry
        if (!corpus.empty()) {
          const std::string& other = corpus[rng.below(corpus.size())];
          s = s.substr(0, rng.below(s.size() + 1)) + other.substr(rng.below(other.size() + 1));
        }
        break;
    }
  }
  return s.size() > 65536 ? s.substr(0, 65536) : s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [MUTATIONS]\n", argv[0]);
    return 2;
  }
  long mutations = argc > 2 ? std::stol(argv[2]) : 20000;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(argv[1])) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());  // a fixed order: the run is reproducible
  if (files.empty()) {
    std::fprintf(stderr, "fuzz driver: no corpus files in %s\n", argv[1]);
    return 2;
  }
  std::vector<std::string> corpus;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    run(corpus.back());
  }
  run("");
  Rng rng{0x7fb5d329728ea185ULL};
  for (long i = 0; i < mutations; ++i) {
    run(mutate(corpus[rng.below(corpus.size())], corpus, rng));
  }
  std::printf("fuzz driver: %zu corpus files and %ld mutations ran without a crash\n",
              corpus.size(), mutations);
  return 0;
}
