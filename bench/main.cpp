// mvf-bench: measures the figures of the quality targets (README, "Benchmark") against the
// kubelet stand-in on fake nodes, and prints them next to their targets. Figures, not
// pass/fail: tests assert behaviour, this shows speed and memory.
//
//   build/bin/mvf-bench [--rounds N]
//                       [--only scan,worker,requests,health,cdi,metrics,supervisor,soak]
#include <boost/program_options.hpp>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "bench/figures.h"

namespace mvf::bench {
namespace {

namespace po = boost::program_options;

const std::set<std::string> kGroups = {"scan", "worker",  "requests",   "health",
                                       "cdi",  "metrics", "supervisor", "soak"};

int run(int argc, char** argv) {
  int rounds = 50;
  std::string onlyList;
  po::options_description options("Usage: mvf-bench [options]");
  options.add_options()                                                              //
      ("help", "print this help")                                                    //
      ("rounds", po::value(&rounds)->default_value(50), "samples per figure, >= 1")  //
      ("only", po::value(&onlyList),
       "figure groups to run, comma-separated: "
       "scan, worker, requests, health, cdi, metrics, supervisor, soak (default: all)");
  po::variables_map given;
  try {
    po::store(
        po::command_line_parser(argc, argv)
            .options(options)
            .style(po::command_line_style::unix_style ^ po::command_line_style::allow_guessing)
            .run(),
        given);
    po::notify(given);
  } catch (const po::error& e) {
    std::cerr << "mvf-bench: " << e.what() << "\n" << options;
    return 2;
  }
  if (given.count("help")) {
    std::cout << options;
    return 0;
  }
  if (rounds < 1) {
    std::cerr << "mvf-bench: --rounds must be at least 1, got " << rounds << "\n";
    return 2;
  }
  std::set<std::string> only;  // figure groups to run; empty: all
  std::stringstream groups(onlyList);
  for (std::string group; std::getline(groups, group, ',');) {
    if (!kGroups.contains(group)) {
      std::cerr << "mvf-bench: --only: unknown figure group '" << group
                << "' (known: scan, worker, requests, health, cdi, metrics, supervisor, soak)\n";
      return 2;
    }
    only.insert(group);
  }
  if (!FakeNode::canMknod()) {
    std::cerr << "mvf-bench: needs CAP_MKNOD (run as root) to create device nodes\n";
    return 1;
  }
  PodEnvironment::tuneForWorkers();
  std::printf("mvf-bench: %d rounds, %u cores\n", rounds, std::thread::hardware_concurrency());
  auto wanted = [&](const std::string& group) { return only.empty() || only.contains(group); };
  if (wanted("scan")) {
    if (int failed = scanFigures(rounds)) return failed;
  }
  if (wanted("worker")) {
    if (int failed = workerFigures(rounds)) return failed;
  }
  if (wanted("requests")) {
    if (int failed = requestFigures(rounds)) return failed;
  }
  if (wanted("health")) {
    if (int failed = healthFigures(rounds)) return failed;
  }
  if (wanted("cdi")) {
    if (int failed = cdiFigures(rounds)) return failed;
  }
  if (wanted("metrics")) {
    if (int failed = metricsFigures(rounds)) return failed;
  }
  if (wanted("supervisor")) {
    if (int failed = supervisorFigures(rounds)) return failed;
  }
  if (wanted("soak")) return soakFigures();
  return 0;
}

}  // namespace
}  // namespace mvf::bench

int main(int argc, char** argv) { return mvf::bench::run(argc, argv); }
