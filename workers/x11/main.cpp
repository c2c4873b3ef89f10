#include "workers/core/run_worker.h"
#include "workers/x11/x11_displays.h"

int main(int argc, char** argv) { return mvf::core::runWorker(argc, argv, mvf::x11::kSpec); }
