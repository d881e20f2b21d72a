package cluster

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/trustledger/trustledger/fsm"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"golang.org/x/mod/sumdb/note"
)

// Signed checkpoints (docs/verification.md). A checkpoint is a C2SP
// tlog-checkpoint — origin line, tree size, base64 root hash — in a C2SP
// signed note, signed with the cluster's checkpoint key (Ed25519). The
// node that bootstraps a cluster creates the key; the leader hands it to
// voters node to node, as it hands the CA key. Ed25519 signatures are
// deterministic, so every node that holds the key signs a tree head into
// the same bytes: a checkpoint does not depend on which node served it.
//
// The key's name is the checkpoint's origin, "trustledger/" and 12 random
// hex digits chosen with the key: it names this cluster's log, and a
// client that pinned the verifier key (name+hash+keydata) accepts no
// checkpoint of another.

const checkpointKeyFile = "checkpoint.key"

// checkpointMinAge is how long a signed checkpoint of the latest tree
// head is served before a newer head is signed: a reader gets a
// checkpoint at most this old under load, and signing costs at most a
// few signatures a second whatever the request rate.
const checkpointMinAge = 100 * time.Millisecond

// Checkpoint errors.
var (
	// ErrNoCheckpointKey: this node holds no checkpoint key (it has not
	// received it from the leader yet, or is not a voter).
	ErrNoCheckpointKey = errors.New("this node holds no checkpoint key")
	// ErrTreeMismatch: the archive's tree and the state machine's disagree
	// at the same size; nothing is signed until that is explained.
	ErrTreeMismatch = errors.New("the ledger archive's tree does not match the ledger's")
)

// checkpoints signs tree heads with the cluster's checkpoint key.
type checkpoints struct {
	path string
	seal *sealer

	mu       sync.Mutex
	skey     string
	signer   note.Signer
	verifier string // name+hash+keydata
	last     []byte // the latest signed checkpoint
	lastSize uint64
	lastAt   time.Time
}

// load reads the key file, if there is one.
func (c *checkpoints) load() error {
	b, err := c.seal.readFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read checkpoint key: %w", err)
	}
	return c.use(strings.TrimSpace(string(b)))
}

// use installs a signer key (note format PRIVATE+KEY+name+hash+keydata).
func (c *checkpoints) use(skey string) error {
	signer, err := note.NewSigner(skey)
	if err != nil {
		return fmt.Errorf("checkpoint key: %w", err)
	}
	vkey, err := verifierKey(skey)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skey, c.signer, c.verifier = skey, signer, vkey
	return nil
}

// create makes a new key and saves it.
func (c *checkpoints) create() error {
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	skey, _, err := note.GenerateKey(rand.Reader, "trustledger/"+hex.EncodeToString(id[:]))
	if err != nil {
		return fmt.Errorf("create checkpoint key: %w", err)
	}
	if err := c.save(skey); err != nil {
		return err
	}
	return c.use(skey)
}

func (c *checkpoints) save(skey string) error {
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return fmt.Errorf("create identity directory: %w", err)
	}
	if err := c.seal.writeFile(c.path, []byte(skey+"\n")); err != nil {
		return fmt.Errorf("write checkpoint key: %w", err)
	}
	return nil
}

func (c *checkpoints) has() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.signer != nil
}

// verifierKey derives the note verifier key (name+hash+keydata) of a
// signer key (PRIVATE+KEY+name+hash+keydata, keydata holding the
// algorithm byte and the Ed25519 seed).
func verifierKey(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("checkpoint key: not a note signer key")
	}
	key, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != 1 {
		return "", errors.New("checkpoint key: not an Ed25519 note signer key")
	}
	pub, ok := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	if !ok {
		return "", errors.New("checkpoint key: no Ed25519 public key")
	}
	return note.NewEd25519VerifierKey(parts[2], pub)
}

// sign returns the signed checkpoint of a tree head.
func (c *checkpoints) sign(size uint64, root []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.signer == nil {
		return nil, ErrNoCheckpointKey
	}
	text := c.signer.Name() + "\n" + strconv.FormatUint(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root) + "\n"
	return note.Sign(&note.Note{Text: text}, c.signer)
}

// openCheckpoints loads the node's checkpoint key, creating it on the node
// that bootstraps a new cluster.
func (n *Node) openCheckpoints() error {
	n.ckpt = &checkpoints{path: filepath.Join(n.ident.dir, checkpointKeyFile), seal: n.ident.seal}
	if err := n.ckpt.load(); err != nil {
		return err
	}
	if !n.ckpt.has() && n.cfg.Bootstrap && !n.existing {
		if err := n.ckpt.create(); err != nil {
			return err
		}
		n.log.Info("created the cluster's checkpoint key", "verifier_key", n.ckpt.verifier)
	}
	return nil
}

// HasCheckpointKey reports whether this node can sign checkpoints.
func (n *Node) HasCheckpointKey() bool { return n.ckpt.has() }

// CheckpointVerifierKey returns the verifier key of the cluster's
// checkpoints, in the signed-note format name+hash+keydata.
func (n *Node) CheckpointVerifierKey() (string, error) {
	n.ckpt.mu.Lock()
	defer n.ckpt.mu.Unlock()
	if n.ckpt.signer == nil {
		return "", ErrNoCheckpointKey
	}
	return n.ckpt.verifier, nil
}

// Checkpoint returns a signed checkpoint of the ledger's tree at size
// entries, or of the latest tree head this node's archive holds when size
// is 0. The latest head is signed afresh at most every checkpointMinAge.
func (n *Node) Checkpoint(size uint64) ([]byte, error) {
	head, ok := n.archive.treeHead()
	if !ok {
		return nil, ErrProofUnavailable
	}
	if size == 0 {
		size = head.Size
		n.ckpt.mu.Lock()
		last, lastSize, lastAt := n.ckpt.last, n.ckpt.lastSize, n.ckpt.lastAt
		n.ckpt.mu.Unlock()
		if last != nil && (lastSize == size || time.Since(lastAt) < checkpointMinAge) {
			return last, nil
		}
	}
	if size == 0 {
		// Nothing archived yet (a new ledger, or entries not yet flushed):
		// the empty tree, which every later tree extends.
		return n.ckpt.sign(0, fsm.TreeHasher.EmptyRoot())
	}
	root := head.Root
	if size != head.Size {
		var err error
		if root, err = n.archive.rootAt(size); err != nil {
			return nil, err
		}
	} else if err := n.checkTree(head.Size, head.Root); err != nil {
		return nil, err
	}
	b, err := n.ckpt.sign(size, root)
	if err != nil {
		return nil, err
	}
	if size == head.Size {
		n.ckpt.mu.Lock()
		if size >= n.ckpt.lastSize {
			n.ckpt.last, n.ckpt.lastSize, n.ckpt.lastAt = b, size, time.Now()
		}
		n.ckpt.mu.Unlock()
	}
	return b, nil
}

// checkTree compares the archive's root with the state machine's when
// both are at the same size (when the state machine is ahead, the archive
// catches up within a flush).
func (n *Node) checkTree(size uint64, root []byte) error {
	fh, ok := n.ledger.TreeHead()
	if !ok || fh.Size != size {
		return nil
	}
	if string(fh.Root) != string(root) {
		n.log.Error("ledger archive tree differs from the ledger's", "size", size)
		return fmt.Errorf("%w at size %d", ErrTreeMismatch, size)
	}
	return nil
}

// CheckpointKeyFor returns the checkpoint signer key for voter id (on the
// leader, for a voter of the Raft configuration whose certificate the
// caller checked), so that every voter signs checkpoints.
func (n *Node) CheckpointKeyFor(id string) (string, error) {
	if !n.IsLeader() {
		return "", n.notLeader()
	}
	n.ckpt.mu.Lock()
	skey := n.ckpt.skey
	n.ckpt.mu.Unlock()
	if skey == "" {
		return "", ErrNoCheckpointKey
	}
	conf, err := n.configuration()
	if err != nil {
		return "", err
	}
	for _, s := range conf.Servers {
		if string(s.ID) == id && s.Suffrage == raft.Voter {
			n.log.Info("handing the checkpoint key to a voter", "member", id)
			return skey, nil
		}
	}
	return "", fmt.Errorf("%w: %s is not a voter of the Raft configuration", ErrUnknownMember, id)
}

// InstallCheckpointKey takes the checkpoint key a leader handed this
// voter and saves it (sealed with the encryption key at rest). A node that
// holds a key keeps it.
func (n *Node) InstallCheckpointKey(skey string) error {
	if n.ckpt.has() {
		return nil
	}
	if _, err := verifierKey(skey); err != nil {
		return err
	}
	if err := n.ckpt.save(skey); err != nil {
		return err
	}
	if err := n.ckpt.use(skey); err != nil {
		return err
	}
	n.log.Info("received the cluster's checkpoint key: this node signs checkpoints")
	return nil
}

// InclusionProof returns the Merkle audit path of the entry at sequence
// seq in the tree of size entries.
func (n *Node) InclusionProof(seq, size uint64) ([][]byte, error) {
	if seq == 0 || seq > size {
		return nil, fmt.Errorf("%w: sequence %d is not in a tree of %d entries", ErrTreeSize, seq, size)
	}
	return n.archive.inclusionProof(seq-1, size)
}

// ConsistencyProof returns the proof that the tree of from entries is a
// prefix of the tree of to entries.
func (n *Node) ConsistencyProof(from, to uint64) ([][]byte, error) {
	return n.archive.consistencyProof(from, to)
}

// TreeSize returns the number of entries of this node's tree (what
// proofs and checkpoints can be asked for).
func (n *Node) TreeSize() uint64 {
	head, _ := n.archive.treeHead()
	return head.Size
}
