#include "workers/core/run_worker.h"
#include "workers/igpu/gpus.h"

int main(int argc, char** argv) { return mvf::core::runWorker(argc, argv, mvf::igpu::kSpec); }
