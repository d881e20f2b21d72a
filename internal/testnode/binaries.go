package testnode

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/trustledger/trustledger/internal/testnet"
)

// binaries are trustd and trustctl, built at most once per test binary.
var binaries struct {
	sync.Mutex
	main  bool   // Main runs the tests
	dir   string // where they were built
	built bool
	err   error
}

// Main runs the tests of a package that uses Binaries and removes the
// binaries once they have run. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testnode.Main(m)) }
func Main(m *testing.M) int {
	testnet.RaiseParallel()
	binaries.Lock()
	binaries.main = true
	binaries.Unlock()
	code := m.Run()
	binaries.Lock()
	defer binaries.Unlock()
	if binaries.dir != "" {
		_ = os.RemoveAll(binaries.dir)
	}
	return code
}

// Bins are the paths of the trustd and trustctl binaries.
type Bins struct {
	Dir, Trustd, Trustctl string
}

// Binaries returns trustd and trustctl built from this module's sources,
// building them the first time a test of the test binary asks (the tests
// that ask meanwhile wait for that build).
func Binaries(t testing.TB) Bins {
	t.Helper()
	binaries.Lock()
	defer binaries.Unlock()
	if !binaries.main {
		t.Fatal("testnode.Binaries: the package's TestMain must run its tests through testnode.Main")
	}
	if !binaries.built {
		binaries.built = true
		binaries.dir, binaries.err = build()
	}
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
	return Bins{Dir: binaries.dir, Trustd: filepath.Join(binaries.dir, "trustd"), Trustctl: filepath.Join(binaries.dir, "trustctl")}
}

// module is this module's path, which names its commands from any
// directory inside it.
const module = "github.com/trustledger/trustledger"

func build() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build trustd and trustctl: %w", err)
	}
	dir, err := os.MkdirTemp("", "trustledger-test-bin-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command(goBin, "build", "-o", dir+string(filepath.Separator), module+"/cmd/trustd", module+"/cmd/trustctl") // #nosec G204 -- the test's own build of this module
	cmd.Env = CleanEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return dir, nil
}

// CleanEnv is the test's environment without TRUSTLEDGER_* settings, so
// that a developer's own configuration cannot leak into the processes a
// test starts, with extra added.
func CleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRUSTLEDGER_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}
