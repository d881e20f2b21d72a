package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/verify"
)

// verifyFlags are the flags of the verify commands.
type verifyFlags struct {
	key, state string
}

func addVerifyFlags(fs *flag.FlagSet) *verifyFlags {
	v := &verifyFlags{}
	fs.StringVar(&v.key, "verifier-key", "", "the checkpoint verifier `KEY` to pin (name+hash+keydata); default: the one pinned before, else the server's, trusted on first use")
	fs.StringVar(&v.state, "state", "", "the verifier's state `FILE`: pinned keys and the last checkpoint per server (default: "+defaultVerifyState()+")")
	return v
}

// defaultVerifyState is the state file in the user's configuration
// directory (docs/verification.md, "trustctl verify").
func defaultVerifyState() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = "."
	}
	return filepath.Join(dir, "trustledger", "verify.json")
}

func (v *verifyFlags) path() string {
	if v.state != "" {
		return v.state
	}
	return defaultVerifyState()
}

// verifyLedger checks the server's latest checkpoint against the pinned
// key and the checkpoint verified last time: the ledger only grew.
func verifyLedger(fs *flag.FlagSet, c *cli) prepare {
	vf := addVerifyFlags(fs)
	all := fs.Bool("all", false, "also fetch every entry and check that together they hash to the checkpoint's root")
	return func([]string) (call, error) {
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			store, err := verify.LoadStore(vf.path())
			if err != nil {
				return nil, err
			}
			st := store.For(cl.Address())
			rep, err := verify.Ledger(ctx, cl, st, vf.key, *all)
			if err != nil {
				return nil, fmt.Errorf("verification failed: %w", err)
			}
			if err := store.Save(); err != nil {
				return nil, err
			}
			if rep.FirstUse {
				fmt.Fprintf(c.stderr, "Warning: no checkpoint key was pinned for %s: pinned the server's %s (trust on first use); compare it with the key from a source you trust\n",
					cl.Address(), rep.VerifierKey)
			}
			return &output{v: rep, table: func(w io.Writer) { writeLedgerReport(w, rep) }}, nil
		}, nil
	}
}

func writeLedgerReport(w io.Writer, rep *verify.LedgerReport) {
	fmt.Fprintf(w, "ledger %s verified: %d entries, root %s\n", rep.Origin, rep.TreeSize, base64.StdEncoding.EncodeToString(rep.Root))
	if rep.Previous > 0 {
		fmt.Fprintf(w, "it extends the %d entries verified last time\n", rep.Previous)
	} else {
		fmt.Fprintln(w, "no earlier checkpoint to compare with: this one is remembered for the next run")
	}
	if rep.Entries > 0 {
		fmt.Fprintf(w, "all %d entries hash to the checkpoint's root\n", rep.Entries)
	}
}
