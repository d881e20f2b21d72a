package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
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
		return vf.run(c, func(ctx context.Context, cl *client.Client, st *verify.State) (*output, bool, string, error) {
			rep, err := verify.Ledger(ctx, cl, st, vf.key, *all)
			if err != nil {
				return nil, false, "", err
			}
			return &output{v: rep, table: func(w io.Writer) { writeLedgerReport(w, rep) }}, rep.FirstUse, rep.VerifierKey, nil
		}), nil
	}
}

// verifyPrincipal proves a principal's record from the entries it depends
// on, replayed locally.
func verifyPrincipal(fs *flag.FlagSet, c *cli) prepare {
	vf := addVerifyFlags(fs)
	size := fs.Uint64("tree-size", 0, "prove the record as it was after `N` entries (default: the newest)")
	file := fs.String("bundle", "", "check the proof bundle in `FILE` (- for standard input) instead of fetching one")
	return func(pos []string) (call, error) {
		return vf.run(c, func(ctx context.Context, cl *client.Client, st *verify.State) (*output, bool, string, error) {
			var rep *verify.PrincipalReport
			var err error
			if *file == "" {
				rep, err = verify.Principal(ctx, cl, st, vf.key, pos[0], *size)
			} else {
				rep, err = verifyBundleFile(ctx, c, cl, st, vf.key, pos[0], *file)
			}
			if err != nil {
				return nil, false, "", err
			}
			return &output{v: rep, table: func(w io.Writer) { writePrincipalReport(w, rep) }}, rep.FirstUse, rep.VerifierKey, nil
		}), nil
	}
}

// run loads the verifier state, runs check with the server's state in it,
// and saves it when the check passed, warning when a key was pinned on
// first use.
func (v *verifyFlags) run(c *cli, check func(context.Context, *client.Client, *verify.State) (*output, bool, string, error)) call {
	return func(ctx context.Context, cl *client.Client) (*output, error) {
		store, err := verify.LoadStore(v.path())
		if err != nil {
			return nil, err
		}
		out, firstUse, key, err := check(ctx, cl, store.For(cl.Address()))
		if err != nil {
			return nil, fmt.Errorf("verification failed: %w", err)
		}
		if err := store.Save(); err != nil {
			return nil, err
		}
		if firstUse {
			fmt.Fprintf(c.stderr, "Warning: no checkpoint key was pinned for %s: pinned the server's %s (trust on first use); compare it with the key from a source you trust\n",
				cl.Address(), key)
		}
		return out, nil
	}
}

func writePrincipalReport(w io.Writer, rep *verify.PrincipalReport) {
	var r struct {
		Score any    `json:"trustScore"`
		Level string `json:"trustLevel"`
	}
	_ = json.Unmarshal(rep.Record, &r) // the record was reproduced: it is JSON
	fmt.Fprintf(w, "principal %s verified: score %v (%s) at %s, ledger %s after %d entries, root %s\n",
		rep.PrincipalID, r.Score, r.Level, rep.Time, rep.Origin, rep.TreeSize, base64.StdEncoding.EncodeToString(rep.Root))
	fmt.Fprintf(w, "%d entries proven in the checkpoint's tree and replayed: they give the served record byte for byte\n", rep.Entries)
	if rep.Previous > 0 {
		fmt.Fprintf(w, "the checkpoint is consistent with the %d entries verified before\n", rep.Previous)
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

// verifyBundleFile checks the proof bundle saved in file (- for standard
// input), which must be principal id's.
func verifyBundleFile(ctx context.Context, c *cli, cl *client.Client, st *verify.State, pin, id, file string) (*verify.PrincipalReport, error) {
	var r io.Reader = c.stdin
	if file != "-" {
		f, err := os.Open(file) // #nosec G304 -- the user names the bundle file
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var b client.PrincipalProof
	if err := json.NewDecoder(io.LimitReader(r, maxBundleBytes)).Decode(&b); err != nil {
		return nil, fmt.Errorf("read the proof bundle %s: %w", file, err)
	}
	if b.PrincipalID != id {
		return nil, fmt.Errorf("the bundle proves %s's record, not %s's", b.PrincipalID, id)
	}
	return verify.PrincipalBundle(ctx, cl, st, pin, &b)
}

// maxBundleBytes bounds a bundle file: 20,000 entries of a few KiB.
const maxBundleBytes = 256 << 20
