package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/trustledger/trustledger/api/client"
)

// State is what a verifier remembers about one cluster between runs: the
// verifier key it pinned, and the last checkpoint it verified.
type State struct {
	VerifierKey string `json:"verifierKey"`
	Checkpoint  string `json:"checkpoint,omitempty"`
}

// Store is the verifier's state file: one State per server address, JSON,
// mode 0600 (docs/verification.md, "trustctl verify").
type Store struct {
	path     string
	Clusters map[string]*State `json:"clusters"`
}

// LoadStore reads the state file at path; a missing file is an empty
// store.
func LoadStore(path string) (*Store, error) {
	s := &Store{path: path, Clusters: map[string]*State{}}
	b, err := os.ReadFile(path) // #nosec G304 -- the user names the state file
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read verifier state: %w", err)
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("verifier state %s: %w", path, err)
	}
	if s.Clusters == nil {
		s.Clusters = map[string]*State{}
	}
	return s, nil
}

// For returns the state of the cluster at addr, creating it.
func (s *Store) For(addr string) *State {
	st := s.Clusters[addr]
	if st == nil {
		st = &State{}
		s.Clusters[addr] = st
	}
	return st
}

// Save writes the store atomically.
func (s *Store) Save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("verifier state: %w", err)
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write verifier state: %w", err)
	}
	return os.Rename(tmp, s.path)
}

// CheckpointReport says which checkpoint a verification checked, with
// which key, against which earlier one.
type CheckpointReport struct {
	Origin      string `json:"origin"`
	VerifierKey string `json:"verifierKey"`
	// FirstUse: no key was pinned; the server's was pinned now.
	FirstUse bool   `json:"trustOnFirstUse"`
	TreeSize uint64 `json:"treeSize"`
	Root     []byte `json:"root"`
	// Previous is the size of the checkpoint remembered from the last run
	// (0: none); the new one was proven consistent with it.
	Previous uint64 `json:"previousTreeSize"`
}

// LedgerReport says what Ledger verified.
type LedgerReport struct {
	CheckpointReport
	// Entries counts the entries checked one by one (with all).
	Entries int `json:"entriesVerified"`
}

// Key settles the verifier key: pin (given by the user) over the one st
// remembers; with neither, the server's, trusted on first use. The server
// must publish the key settled on.
func Key(ctx context.Context, cl *client.Client, st *State, pin string) (key string, firstUse bool, err error) {
	served, err := cl.CheckpointKey(ctx)
	if err != nil {
		return "", false, fmt.Errorf("fetch the checkpoint key: %w", err)
	}
	switch {
	case pin != "":
		key = pin
	case st.VerifierKey != "":
		key = st.VerifierKey
	default:
		key, firstUse = served, true
	}
	if served != key {
		return "", false, fmt.Errorf("the server publishes checkpoint key %s, not the pinned %s: another cluster, or its key changed", served, key)
	}
	if st.VerifierKey != "" && st.VerifierKey != key {
		// A new pin replaces the remembered one: the old checkpoint cannot
		// be compared with the new key's.
		st.Checkpoint = ""
	}
	st.VerifierKey = key
	return key, firstUse, nil
}

// Ledger verifies the cluster's latest checkpoint with the settled key,
// and that it extends the checkpoint st remembers; with all, it also
// fetches every entry and checks that together they hash to the
// checkpoint's root. On success st remembers the new checkpoint.
func Ledger(ctx context.Context, cl *client.Client, st *State, pin string, all bool) (*LedgerReport, error) {
	key, firstUse, err := Key(ctx, cl, st, pin)
	if err != nil {
		return nil, err
	}
	msg, err := cl.Checkpoint(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("fetch the checkpoint: %w", err)
	}
	cp, err := OpenCheckpoint(key, msg)
	if err != nil {
		return nil, err
	}
	rep := &LedgerReport{CheckpointReport: CheckpointReport{Origin: cp.Origin, VerifierKey: key, FirstUse: firstUse, TreeSize: cp.Size, Root: cp.Root}}
	if st.Checkpoint != "" {
		old, err := OpenCheckpoint(key, []byte(st.Checkpoint))
		if err != nil {
			return nil, fmt.Errorf("the remembered checkpoint: %w", err)
		}
		if err := extends(ctx, cl, old, cp); err != nil {
			return nil, err
		}
		rep.Previous = old.Size
	}
	if all {
		if rep.Entries, err = allEntries(ctx, cl, cp); err != nil {
			return nil, err
		}
	}
	st.Checkpoint = string(cp.Note)
	return rep, nil
}

// extends proves that cp extends old with the server's consistency proof.
func extends(ctx context.Context, cl *client.Client, old, cp Checkpoint) error {
	var path [][]byte
	if cp.Size > old.Size && old.Size > 0 { // every tree extends the empty one
		p, err := cl.ConsistencyProof(ctx, old.Size, cp.Size)
		if err != nil {
			return fmt.Errorf("fetch the consistency proof %d → %d: %w", old.Size, cp.Size, err)
		}
		path = p.Hashes
	}
	return Consistency(old, cp, path)
}

// pageLimit is the most entries the API serves per page.
const pageLimit = 1000

// allEntries fetches entries 1 to cp.Size and checks them against cp.
func allEntries(ctx context.Context, cl *client.Client, cp Checkpoint) (int, error) {
	leaves := make([][]byte, 0, cp.Size)
	var after uint64
	for uint64(len(leaves)) < cp.Size {
		page, _, err := cl.Ledger(ctx, client.Page{After: after, Limit: pageLimit}, nil)
		if err != nil {
			return 0, fmt.Errorf("fetch entries after %d: %w", after, err)
		}
		if len(page.Entries) == 0 {
			break
		}
		for _, e := range page.Entries {
			if uint64(len(leaves)) < cp.Size {
				leaves = append(leaves, e.Leaf)
			}
			after = e.Sequence
		}
	}
	return len(leaves), Leaves(cp, leaves)
}
