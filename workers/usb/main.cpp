#include "workers/core/run_worker.h"
#include "workers/usb/usb_devices.h"

int main(int argc, char** argv) { return mvf::core::runWorker(argc, argv, mvf::usb::kSpec); }
