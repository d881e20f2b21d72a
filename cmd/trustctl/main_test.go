package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/trustledger/trustledger/internal/testnode"
)

// TestMain unsets the machine's trustctl settings for every test (see
// clearEnv) and runs the tests through testnode.Main, which removes the
// binaries testnode.Binaries builds once they have run.
func TestMain(m *testing.M) {
	for _, k := range clientEnv {
		if err := os.Unsetenv(k); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(testnode.Main(m))
}
