package api

import (
	"os"
	"testing"

	"github.com/trustledger/trustledger/internal/testnet"
)

// TestMain raises the parallel tests run at once: most of this package's
// tests start a Raft node and wait on its election, deadlines and streams
// (testnet.RaiseParallel).
func TestMain(m *testing.M) {
	testnet.RaiseParallel()
	os.Exit(m.Run())
}
