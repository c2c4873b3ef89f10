// mvf-bench: measures the figures of the quality targets (README, "Benchmark") against the
// kubelet stand-in on fake nodes, and prints them next to their targets. Figures, not
// pass/fail: tests assert behaviour, this shows speed and memory.
//
//   build/bin/mvf-bench [--rounds N] [--only scan,worker,health,supervisor]
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "bench/figures.h"

namespace mvf::bench {
namespace {

int run(int argc, char** argv) {
  int rounds = 50;
  std::set<std::string> only;  // figure groups to run; empty: all
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--rounds") {
      rounds = std::max(1, std::atoi(argv[i + 1]));
    } else if (flag == "--only") {
      std::stringstream groups(argv[i + 1]);
      for (std::string group; std::getline(groups, group, ',');) only.insert(group);
    } else {
      std::cerr << "usage: mvf-bench [--rounds N] [--only scan,worker,health,supervisor]\n";
      return 2;
    }
  }
  if (!FakeNode::canMknod()) {
    std::cerr << "mvf-bench: needs CAP_MKNOD (run as root) to create device nodes\n";
    return 1;
  }
  std::printf("mvf-bench: %d rounds, %u cores\n", rounds, std::thread::hardware_concurrency());
  auto wanted = [&](const std::string& group) { return only.empty() || only.contains(group); };
  if (wanted("scan")) {
    if (int failed = scanFigures(rounds)) return failed;
  }
  if (wanted("worker")) {
    if (int failed = workerFigures(rounds)) return failed;
  }
  if (wanted("health")) {
    if (int failed = healthFigures(rounds)) return failed;
  }
  if (wanted("supervisor")) return supervisorFigures(rounds);
  return 0;
}

}  // namespace
}  // namespace mvf::bench

int main(int argc, char** argv) { return mvf::bench::run(argc, argv); }
