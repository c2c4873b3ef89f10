#include "workers/core/run_worker.h"
#include "workers/vfio/iommu_groups.h"

int main(int argc, char** argv) { return mvf::core::runWorker(argc, argv, mvf::vfio::kSpec); }
