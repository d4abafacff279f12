package core

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// pureImports are all the core may use: no clock, goroutine machinery,
// files or sockets, so that a schedule replays from a seed. net is here
// for address parsing only (net.SplitHostPort), which does no I/O.
var pureImports = map[string]bool{
	"encoding/json": true, "errors": true, "fmt": true, "math": true, "math/rand/v2": true,
	"net": true, "slices": true, "strings": true,
	"github.com/raftkv/raftkv/raft/quorum": true, "github.com/raftkv/raftkv/raft/wire": true,
}

// TestCoreIsPure holds the package to the design the compiler cannot
// enforce: no import beyond pureImports, no go statement, no channel.
func TestCoreIsPure(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, p := range pkgs {
		for name, f := range p.Files {
			files++
			for _, im := range f.Imports {
				if path, _ := strconv.Unquote(im.Path.Value); !pureImports[path] {
					t.Errorf("%s imports %s", name, path)
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n.(type) {
				case *ast.GoStmt, *ast.ChanType, *ast.SelectStmt, *ast.SendStmt:
					t.Errorf("%s: %T at %v", name, n, fset.Position(n.Pos()))
				}
				return true
			})
		}
	}
	if files < 5 {
		t.Fatalf("read %d files; the test is not looking at the core", files)
	}
}
