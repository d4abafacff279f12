// Command httpfloor is the ceiling of any store measured with kvcli bench
// over HTTP on this machine: a server that answers raftkv's status, PUT and
// GET at once, storing nothing and replicating nothing. What a run against
// it costs (its CPU per request, and the client's) is the share of a real
// run that HTTP alone takes; bench/compare.sh measures it beside raftkv and
// etcd (docs/bench/README.md).
//
//	go run ./bench/httpfloor 127.0.0.1:18500
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: httpfloor HOST:PORT")
		os.Exit(2)
	}
	if err := http.ListenAndServe(os.Args[1], newHandler(256)); err != nil {
		fmt.Fprintln(os.Stderr, "httpfloor:", err)
		os.Exit(1)
	}
}

// status is what raftkv's leader answers to GET /v1/status, reduced to the
// fields kvcli reads to find the leader.
const status = `{"id":0,"state":"leader","term":1,"leader":0,"leader_http":null}`

// newHandler answers like a raftkv leader that does no work: a PUT or
// DELETE of a key gets the next index, a GET of a key valueSize bytes.
func newHandler(valueSize int) http.Handler {
	var index atomic.Uint64
	value := []byte(strings.Repeat("v", valueSize))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/status" && r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, status)
			return
		}
		key, ok := strings.CutPrefix(r.URL.Path, "/v1/kv/")
		if !ok || key == "" {
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		}
		switch r.Method {
		case http.MethodPut, http.MethodDelete:
			// Read the body as a real server would; it is not kept.
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				http.Error(w, `{"error":"bad body"}`, http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"index":`+strconv.FormatUint(index.Add(1), 10)+`}`)
		case http.MethodGet:
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(value)
		default:
			http.Error(w, `{"error":"method not allowed"}`, http.StatusMethodNotAllowed)
		}
	})
}
