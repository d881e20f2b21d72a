package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/trustledger/trustledger/fsm"
)

// nodeIDFile names the file in the data directory that records the node id
// the directory's Raft state belongs to.
const nodeIDFile = "node-id"

// resolveNodeID pins the node id to the data directory. At first start it
// records cfg.NodeID; later starts reuse the recorded id, and refuse an
// explicitly given id that differs, since Raft would take the node for a
// different server.
func resolveNodeID(cfg *config) error {
	path := filepath.Join(cfg.DataDir, nodeIDFile)
	data, err := os.ReadFile(path) // #nosec G304 G703 -- a fixed name in the operator's data directory
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.WriteFile(path, []byte(cfg.NodeID+"\n"), 0o600); err != nil { // #nosec G703 -- as above
			return fmt.Errorf("record node id: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("read node id: %w", err)
	}
	stored := strings.TrimSpace(string(data))
	if stored == cfg.NodeID {
		return nil
	}
	if cfg.explicit["node-id"] {
		return fmt.Errorf("--node-id %q: the data directory %s belongs to node %q; use --node-id %s or another --data-dir",
			cfg.NodeID, cfg.DataDir, stored, stored)
	}
	if !fsm.ValidID(stored) {
		return fmt.Errorf("%s holds %q, not a node id: correct it or remove it", path, stored)
	}
	cfg.NodeID = stored
	return nil
}
