// Command kvserver runs raftkv nodes: one (--node-id N) or every node of the
// config on this machine (--all).
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
