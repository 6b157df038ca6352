import FedCyBGDCLI

// First, before MPI_Init and before anything else: make sure OpenBLAS runs the kernels this CPU
// has (this may re-execute the binary with OPENBLAS_CORETYPE set; see BLASStartup).
BLASStartup.start()
FedCyBGDCommand.main()
