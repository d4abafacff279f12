package raft

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// TestDriverUsesTheCoresDoor: until the driver has a package of its own,
// this keeps it from reaching into the core: no method of Node, and no
// function that is handed a *Core without being one of its methods, may
// touch an unexported field or method of the core (n.core.x, c.x).
func TestDriverUsesTheCoresDoor(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			for _, core := range coreNames(fn) {
				ast.Inspect(fn.Body, func(x ast.Node) bool {
					sel, ok := x.(*ast.SelectorExpr)
					if ok && exprString(sel.X) == core && !unicode.IsUpper(rune(sel.Sel.Name[0])) {
						t.Errorf("%s: %s reaches into the core: %s.%s", fset.Position(sel.Pos()), fn.Name.Name, core, sel.Sel.Name)
					}
					return true
				})
			}
		}
	}
}

// coreNames is how fn refers to a core it does not own: n.core in a Node
// method, or a *Core parameter of a function that is not a Core method.
func coreNames(fn *ast.FuncDecl) []string {
	if fn.Recv != nil {
		if recv := exprString(fn.Recv.List[0].Type); recv == "*Node" && len(fn.Recv.List[0].Names) > 0 {
			return []string{fn.Recv.List[0].Names[0].Name + ".core"}
		}
		return nil
	}
	var out []string
	for _, p := range fn.Type.Params.List {
		if exprString(p.Type) == "*Core" {
			for _, n := range p.Names {
				out = append(out, n.Name)
			}
		}
	}
	return out
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.StarExpr:
		return "*" + exprString(e.X)
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	}
	return ""
}
