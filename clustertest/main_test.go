package clustertest

import (
	"os"
	"testing"

	"github.com/trustledger/trustledger/internal/testnode"
)

// TestMain runs the tests through testnode.Main, which removes the trustd
// and trustctl binaries the process tests build once they have run.
func TestMain(m *testing.M) { os.Exit(testnode.Main(m)) }
