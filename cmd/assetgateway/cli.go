package main

import (
	"fmt"
	"os"
)

// runCLI runs a subcommand (assetgateway <command> ...) and returns the exit status.
func runCLI(args []string) int {
	fmt.Fprintf(os.Stderr, "assetgateway: unknown command %q (run the server with: assetgateway -config FILE)\n", args[0])
	return 2
}
