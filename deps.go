//go:build tools

package raftkv

import (
	_ "github.com/dgraph-io/badger/v4"
	_ "github.com/gin-gonic/gin"
	_ "github.com/go-zeromq/zmq4"
	_ "github.com/spf13/cobra"
	_ "go.uber.org/goleak"
)
