package cluster

import (
	"os"
	"testing"

	"github.com/trustledger/trustledger/internal/testnet"
)

// TestMain raises the parallel tests run at once: this package's tests
// mostly wait on elections and timeouts (testnet.RaiseParallel).
func TestMain(m *testing.M) {
	testnet.RaiseParallel()
	os.Exit(m.Run())
}
