package fsm

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestPurity checks that the state machine stays pure: only allowed
// imports (no clock, randomness, I/O, network or the rest of the project),
// no goroutines, no floating point.
func TestPurity(t *testing.T) {
	allowed := map[string]bool{
		"bufio": true, "bytes": true, "crypto/sha256": true, "encoding/binary": true, "encoding/hex": true,
		"encoding/json": true, "errors": true, "fmt": true, "io": true, "maps": true, "math/bits": true,
		"sort": true, "strconv": true, "strings": true, "sync": true, "github.com/vmihailenco/msgpack/v5": true,
		// Address parsing and prefix matching (context rules): no resolver.
		"net/netip": true,
		// RFC 6962 hashing and compact ranges: pure functions of their input.
		"github.com/transparency-dev/merkle/compact": true, "github.com/transparency-dev/merkle/rfc6962": true,
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		files++
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !allowed[p] {
				t.Errorf("%s imports %q: fsm must not read clocks, draw randomness, do I/O or import the project", name, p)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: goroutine at %s", name, fset.Position(x.Pos()))
			case *ast.Ident:
				if x.Name == "float32" || x.Name == "float64" {
					t.Errorf("%s: floating point at %s", name, fset.Position(x.Pos()))
				}
			case *ast.BasicLit:
				if x.Kind == token.FLOAT {
					t.Errorf("%s: floating-point literal at %s", name, fset.Position(x.Pos()))
				}
			}
			return true
		})
	}
	if files < 5 {
		t.Fatalf("found only %d source files", files)
	}
}
