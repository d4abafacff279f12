// Command kvchaos runs a real raftkv cluster under faults while clients
// read and write it, then checks the recorded history for
// linearizability with porcupine.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
