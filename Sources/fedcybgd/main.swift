import FedCyBGDCLI

FedCyBGDCommand.main()
