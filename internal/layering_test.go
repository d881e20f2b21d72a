package internal

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The layering of the module (docs/architecture.md, "Layering rules"):
// cmd → api → cluster → fsm, federation beside api on fsm, api/client on
// fsm's wire types and the standard library alone. Each package's non-test files may import
// only the project packages its rule names; a package without a rule fails
// the test, so that a new package has to take its place in the table.
//
// Patterns ending in "/..." match a path and everything below it.
var layers = []struct {
	pkg  string
	rule layerRule
}{
	// fsm imports nothing of the project (fsm/purity_test.go checks the
	// rest: no clock, I/O, goroutines or floating point).
	{"fsm", layerRule{}},
	{"internal/input", layerRule{}},
	{"internal/pki", layerRule{}},
	{"internal/version", layerRule{stdlibOnly: true}},
	// The hardened client for calls to partners and receivers.
	{"internal/outbound", layerRule{project: []string{"internal/version"}, stdlibOnly: true}},
	{"federation", layerRule{project: []string{"fsm", "internal/input"}}},
	{"cluster", layerRule{project: []string{"fsm", "internal/pki"}}},
	// api asks cluster.Node (the Backend interfaces); it never touches
	// Raft, gossip or the stores. Its node-to-node calls go through
	// api/client.
	{"api", layerRule{project: []string{"api/client", "cluster", "fsm", "federation", "internal/input", "internal/outbound", "internal/pki", "internal/version"},
		forbidden: []string{"github.com/hashicorp/raft", "github.com/hashicorp/raft-boltdb/...",
			"github.com/hashicorp/memberlist", "go.etcd.io/bbolt/..."}}},
	// The client integrators import: no server package, and no module
	// beyond the standard library but fsm's own two (TestClientModules).
	// It decodes into fsm's record types, so the wire form of a record is
	// defined once.
	{"api/client", layerRule{project: []string{"fsm"}, stdlibOnly: true}},
	// Client-side verification: the client, and fsm for leaves and replay.
	{"verify", layerRule{project: []string{"api/client", "fsm"}}},
	{"cmd/...", layerRule{project: production}},

	// Test support and harnesses, which only tests run: anything.
	{"internal/testnode", layerRule{project: []string{"..."}}},
	{"internal/testpki", layerRule{project: []string{"..."}}},
	{"internal/testnet", layerRule{stdlibOnly: true}},
	{"chaostest/...", layerRule{project: []string{"..."}}},
	{"clustertest/...", layerRule{project: []string{"..."}}},
	{"e2e/...", layerRule{project: []string{"..."}}},
}

// production is every package a binary may contain: test support
// (internal/testnode, internal/testpki, internal/testnet) and the harnesses are not.
var production = []string{"fsm", "cluster", "api", "api/client", "federation", "internal/input", "internal/outbound", "internal/pki", "internal/version", "verify"}

// layerRule says what the non-test files of one package may import.
type layerRule struct {
	// project lists the project packages (paths relative to the module)
	// it may import; "..." alone matches every one.
	project []string
	// stdlibOnly refuses every import outside the standard library.
	stdlibOnly bool
	// forbidden lists other modules' packages it must not import.
	forbidden []string
}

func TestLayering(t *testing.T) {
	root, module := moduleRoot(t)
	imports := projectImports(t, root)
	for _, want := range []string{"fsm", "cluster", "api", "api/client", "federation", "cmd/trustd", "cmd/trustctl"} {
		if _, ok := imports[want]; !ok {
			t.Fatalf("found no package %s under %s", want, root)
		}
	}
	pkgs := make([]string, 0, len(imports))
	for p := range imports {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		rule, ok := ruleFor(pkg)
		if !ok {
			t.Errorf("%s has no layering rule: add it to the table in internal/layering_test.go", pkg)
			continue
		}
		for _, imp := range imports[pkg] {
			switch {
			case imp.path == module || strings.HasPrefix(imp.path, module+"/"):
				dep := strings.TrimPrefix(strings.TrimPrefix(imp.path, module), "/")
				if !rule.allowsProject(dep) {
					t.Errorf("%s imports %s: the layering (cmd → api → cluster → fsm) lets %s import %s of the project",
						imp.pos, dep, pkg, rule.allowedText())
				}
			case rule.stdlibOnly && !isStdlib(imp.path):
				t.Errorf("%s imports %s: %s depends on the standard library only", imp.pos, imp.path, pkg)
			case matchesAny(rule.forbidden, imp.path):
				t.Errorf("%s imports %s: %s reaches the node through cluster, never Raft, gossip or the stores", imp.pos, imp.path, pkg)
			}
		}
	}
}

// clientModules is every module outside the standard library that a
// program importing api/client links, through fsm: the ledger's codec and
// the Merkle tree's hashing. Nothing of Raft, gossip, bolt or HTTP routing.
var clientModules = []string{"github.com/transparency-dev/merkle", "github.com/vmihailenco/msgpack/v5", "github.com/vmihailenco/tagparser/v2"}

func TestClientModules(t *testing.T) {
	root, module := moduleRoot(t)
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{.Module.Path}}{{end}}", "./api/client") // #nosec G204 -- fixed arguments
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := map[string]bool{}
	for _, m := range strings.Fields(string(out)) {
		if m != module && !seen[m] {
			seen[m] = true
			if !slices.Contains(clientModules, m) {
				t.Errorf("api/client links module %s: a client of the API needs no more than %v", m, clientModules)
			}
		}
	}
	if !seen["github.com/vmihailenco/msgpack/v5"] {
		t.Fatalf("go list found none of fsm's modules behind api/client: %q", out)
	}
}

func ruleFor(pkg string) (layerRule, bool) {
	for _, l := range layers {
		if match(l.pkg, pkg) {
			return l.rule, true
		}
	}
	return layerRule{}, false
}

func (r layerRule) allowsProject(dep string) bool {
	return slices.Contains(r.project, "...") || matchesAny(r.project, dep)
}

func (r layerRule) allowedText() string {
	if len(r.project) == 0 {
		return "nothing"
	}
	return "only " + strings.Join(r.project, ", ")
}

func matchesAny(patterns []string, path string) bool {
	for _, p := range patterns {
		if match(p, path) {
			return true
		}
	}
	return false
}

// match reports whether path is pattern, or lies below it when pattern
// ends in "/...".
func match(pattern, path string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == prefix || strings.HasPrefix(path, prefix+"/")
	}
	return path == pattern
}

// isStdlib reports whether an import path is in the standard library,
// whose first path element, unlike a module path's, has no dot.
func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// moduleRoot returns the directory holding go.mod and the module path.
func moduleRoot(t *testing.T) (dir, module string) {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "go.mod")) // #nosec G304 -- the repository's own go.mod
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return dir, strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	t.Fatalf("%s/go.mod names no module", dir)
	return "", ""
}

type importRef struct {
	path string
	pos  token.Position
}

// projectImports parses the non-test Go files of every package in the
// module (whatever their build tags) and returns their imports by package
// path relative to the module root.
func projectImports(t *testing.T, root string) map[string][]importRef {
	t.Helper()
	fset := token.NewFileSet()
	out := map[string][]importRef{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		if _, seen := out[pkg]; !seen {
			out[pkg] = nil // a package even when it imports nothing
		}
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			pos := fset.Position(imp.Pos())
			if r, err := filepath.Rel(root, pos.Filename); err == nil {
				pos.Filename = filepath.ToSlash(r)
			}
			out[pkg] = append(out[pkg], importRef{path: p, pos: pos})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
