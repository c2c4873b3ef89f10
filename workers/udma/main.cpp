#include "workers/core/run_worker.h"
#include "workers/udma/udmabuf.h"

int main(int argc, char** argv) { return mvf::core::runWorker(argc, argv, mvf::udma::kSpec); }
