package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
)

// The verifiable ledger (docs/verification.md): signed checkpoints of the
// ledger's Merkle tree and the proofs a client checks against them. The
// node only serves them; verification is the client's (trustctl verify),
// from a checkpoint it verified with a key it pinned.

// Verifiable is what the proof endpoints need from a node. *cluster.Node
// satisfies it.
type Verifiable interface {
	// Checkpoint signs the tree head at size entries (0: the latest).
	Checkpoint(size uint64) ([]byte, error)
	// CheckpointVerifierKey is the signed-note verifier key.
	CheckpointVerifierKey() (string, error)
	// InclusionProof proves entry seq is in the tree of size entries.
	InclusionProof(seq, size uint64) ([][]byte, error)
	// ConsistencyProof proves the tree of from entries is a prefix of the
	// tree of to entries.
	ConsistencyProof(from, to uint64) ([][]byte, error)
	// TreeSize is the number of entries of this node's tree.
	TreeSize() uint64
	// PrincipalProof builds a principal's proof bundle (0: at the
	// newest entry).
	PrincipalProof(ctx context.Context, id string, size uint64) (*cluster.PrincipalProof, error)
	// CheckpointKeyFor hands the checkpoint signer key to voter id (on
	// the leader).
	CheckpointKeyFor(id string) (string, error)
}

var _ Verifiable = (*cluster.Node)(nil)

// proofProblem maps the tree's errors to problems: a size the node's tree
// has not reached is the request's fault (400, code tree_size); a node
// that cannot prove or sign yet is unavailable (503, retry elsewhere or
// later).
func proofProblem(err error) error {
	for _, m := range proofErrors {
		if errors.Is(err, m.err) {
			p := withCode(newProblem(m.kind, m.field, "%v%s", err, m.hint), m.code)
			p.retryAfter = m.retryAfter
			return p
		}
	}
	return err
}

// proofErrors are the problems proofProblem answers with.
var proofErrors = []struct {
	err         error
	kind        ProblemKind
	field, hint string
	code        string
	retryAfter  int
}{
	{cluster.ErrTreeSize, ProblemInvalidParameter, "treeSize", "", "tree_size", 0},
	{cluster.ErrProofUnavailable, ProblemUnavailable, "", "; ask another node", "proof_unavailable", 5},
	{cluster.ErrUnknownPrincipal, ProblemNotFound, "principalId", "", "not_found", 0},
	{cluster.ErrProofTooLarge, ProblemConflict, "", "", "proof_too_large", 0},
	{cluster.ErrNoCheckpointKey, ProblemUnavailable, "", "; ask a voter", "no_checkpoint_key", 5},
}

func writeText(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body) // #nosec G705 -- a signed note or key this node made, served as text/plain with nosniff
}

// checkpoint serves the latest signed checkpoint (or, with ?treeSize=,
// the checkpoint of that size), as a C2SP signed note.
func (s *Server) checkpoint(w http.ResponseWriter, r *http.Request) error {
	var errs fieldErrors
	size := errs.sequence("treeSize", r.URL.Query().Get("treeSize"))
	if err := paramProblem(errs.err()); err != nil {
		return err
	}
	b, err := s.node.Checkpoint(size)
	if err != nil {
		return proofProblem(err)
	}
	writeText(w, b)
	return nil
}

// checkpointKey serves the checkpoint verifier key, name+hash+keydata.
func (s *Server) checkpointKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.node.CheckpointVerifierKey()
	if err != nil {
		return proofProblem(err)
	}
	writeText(w, []byte(k+"\n"))
	return nil
}

// proofParams reads a proof's two parameters: required, a sequence or
// tree size (what says what it is, for the error), and optional, a tree
// size defaulting to the node's.
func (s *Server) proofParams(r *http.Request, required, what, optional string) (uint64, uint64, error) {
	q := r.URL.Query()
	var errs fieldErrors
	a := errs.sequence(required, q.Get(required))
	if q.Get(required) == "" {
		errs.add(required, "required", "is required: %s", what)
	}
	b := s.node.TreeSize()
	if v := q.Get(optional); v != "" {
		b = errs.sequence(optional, v)
	}
	return a, b, paramProblem(errs.err())
}

func (s *Server) inclusionProof(w http.ResponseWriter, r *http.Request) error {
	seq, size, err := s.proofParams(r, "sequence", "the sequence of the entry to prove", "treeSize")
	if err != nil {
		return err
	}
	hashes, err := s.node.InclusionProof(seq, size)
	if err != nil {
		return proofProblem(err)
	}
	writeJSON(w, http.StatusOK, client.InclusionProof{LeafIndex: seq - 1, TreeSize: size, Hashes: nonNil(hashes)})
	return nil
}

func (s *Server) consistencyProof(w http.ResponseWriter, r *http.Request) error {
	from, to, err := s.proofParams(r, "from", "the size of the older tree", "to")
	if err != nil {
		return err
	}
	hashes, err := s.node.ConsistencyProof(from, to)
	if err != nil {
		return proofProblem(err)
	}
	writeJSON(w, http.StatusOK, client.ConsistencyProof{From: from, To: to, Hashes: nonNil(hashes)})
	return nil
}

// principalProof serves a principal's record with the checkpoint and the
// entries, each with its inclusion proof, that it follows from.
func (s *Server) principalProof(w http.ResponseWriter, r *http.Request) error {
	id, err := subjectPath(r)
	if err != nil {
		return err
	}
	var errs fieldErrors
	size := errs.sequence("treeSize", r.URL.Query().Get("treeSize"))
	if err := paramProblem(errs.err()); err != nil {
		return err
	}
	p, err := s.node.PrincipalProof(r.Context(), id, size)
	if err != nil {
		return proofProblem(err)
	}
	rec, err := json.Marshal(p.Record)
	if err != nil {
		return err
	}
	out := client.PrincipalProof{PrincipalID: id, Checkpoint: string(p.Checkpoint), TreeSize: p.Size, Record: rec,
		Head: provenView(p.Head), Entries: make([]client.ProvenEntry, len(p.Entries))}
	for i := range p.Entries {
		out.Entries[i] = provenView(p.Entries[i])
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
	return nil
}

func provenView(e cluster.ProvenEntry) client.ProvenEntry {
	return client.ProvenEntry{LedgerEntry: entryView(e.LedgerEntry), Proof: nonNil(e.Proof)}
}

func nonNil(h [][]byte) [][]byte {
	if h == nil {
		return [][]byte{}
	}
	return h
}

// checkpointSignerKey hands the checkpoint signer key to a voter that asks
// with its own certificate (node to node, on the leader), so that every
// voter signs checkpoints.
func (s *Server) checkpointSignerKey(w http.ResponseWriter, r *http.Request) error {
	key, err := s.node.CheckpointKeyFor(s.peerNodeID(r))
	if errors.Is(err, cluster.ErrUnknownMember) {
		err = withCode(newProblem(ProblemForbidden, "", "%v", err), "not_voter")
	}
	if err != nil {
		return proofProblem(err)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"checkpointKey": key})
	return nil
}
