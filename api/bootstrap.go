package api

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/fsm"
)

// BootstrapTokenID is the id of the admin token made at first start.
const BootstrapTokenID = "admin-bootstrap"

// EnsureAdminToken makes the bootstrap admin token when the replicated
// state has no token at all: it draws a secret from crypto/rand, proposes
// a CreateToken with its SHA-256 hash, and writes the secret, followed by a
// newline, to path with mode 0600 (replacing the file atomically). It reports whether it made
// the token. The node must be the leader.
func EnsureAdminToken(ctx context.Context, node Proposer, path string) (created bool, err error) {
	if len(node.Ledger().Tokens()) > 0 {
		return false, nil
	}
	secret, hash, err := newSecret()
	if err != nil {
		return false, fmt.Errorf("bootstrap admin token: %w", err)
	}
	// The secret is on disk (under a temporary name) before the token
	// exists, so a token is never made whose secret nobody has.
	tmp := path + ".tmp"
	if err := writeSecret(tmp, secret); err != nil {
		return false, fmt.Errorf("bootstrap admin token: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			_ = os.Remove(tmp)
		}
	}()
	res, err := node.Propose(ctx, &fsm.CreateToken{TokenID: BootstrapTokenID, Hash: hash, Role: "admin",
		Description: "bootstrap admin token"}, "")
	if err != nil {
		if errors.Is(err, cluster.ErrOutcomeUnknown) {
			// The token may have committed: keep its secret where the
			// operator can find it rather than lock everyone out.
			keep = true
			return false, fmt.Errorf("bootstrap admin token: %w (its secret is kept in %s; if a token exists after restart, rename it to %s)", err, tmp, path)
		}
		return false, fmt.Errorf("bootstrap admin token: %w", err)
	}
	if res.Err != nil {
		var rej *fsm.RejectError
		if errors.As(res.Err, &rej) && rej.Code == "conflict" {
			return false, nil // made meanwhile (by an earlier leader)
		}
		return false, fmt.Errorf("bootstrap admin token: %w", res.Err)
	}
	keep = true // the secret of a live token: never delete it
	if err := os.Rename(tmp, path); err != nil {
		return true, fmt.Errorf("bootstrap admin token: the token exists but its secret could not be moved from %s to %s: %w",
			tmp, path, err)
	}
	return true, nil
}

func writeSecret(path, secret string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600) // #nosec G304 -- the operator's own data directory
	if err != nil {
		return err
	}
	err = f.Chmod(0o600) // an existing file keeps its mode otherwise
	if err == nil {
		_, err = f.WriteString(secret + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
