package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trustledger/trustledger/cluster"
)

// Gossip key rotation (docs/operations.md, "Rotating the gossip key").
// POST /v1/cluster/gossip-key/rotate runs on the leader. It makes a new
// key and installs it on every member of the Raft configuration, voters
// and read replicas, in three phases, as serf's key manager does:
//
//  1. add the new key everywhere, the primary unchanged;
//  2. make it the primary everywhere;
//  3. remove the old keys everywhere.
//
// Each phase sets a member's whole keyring with PUT /v1/cluster/gossip-keys,
// over node-to-node TLS: the member authenticates the leader by its
// certificate (role node) and accepts keys from the leader it follows
// only. Between any two phases every member holds a key every other member
// encrypts with, so gossip never stops. When a member cannot be reached in
// phase 1, the rotation is undone (the new key removed where it was added)
// and nothing has changed; a failure in phase 2 or 3 stops there, every
// member still sharing the keys the others use, and a new rotation
// finishes the job. Keys never appear in answers or logs: only their ids
// (cluster.GossipKeyID).

// GossipKeyring is what gossip key rotation needs from a node;
// *cluster.Node has it. With a ClusterBackend that lacks it, the gossip key
// routes answer 501.
type GossipKeyring interface {
	// GossipKeys returns the node's keyring, the primary first.
	GossipKeys() ([][]byte, error)
	// SetGossipKeys replaces the node's keyring (saved, then used).
	SetGossipKeys(keys [][]byte) error
}

var _ GossipKeyring = (*cluster.Node)(nil)

const (
	// gossipKeyPeerTimeout bounds one member's PUT /v1/cluster/gossip-keys.
	gossipKeyPeerTimeout = 10 * time.Second
	// gossipRotationTimeout bounds a whole rotation.
	gossipRotationTimeout = 2 * time.Minute
)

// gossipRotations marks the servers that are rotating, so that two
// rotations on one leader do not interleave.
var gossipRotations sync.Map // *Server → struct{}

func (s *Server) gossipKeyring() (GossipKeyring, error) {
	if _, err := s.clusterBackend(); err != nil {
		return nil, err
	}
	kr, ok := s.cluster.(GossipKeyring)
	if !ok {
		return nil, newProblem(ProblemNotImplemented, "", "this node cannot change its gossip keys")
	}
	return kr, nil
}

// gossipKeysProblem maps the cluster's keyring errors to problems.
func gossipKeysProblem(err error) error {
	switch {
	case errors.Is(err, cluster.ErrGossipKeysFixed):
		return withCode(newProblem(ProblemConflict, "", "%v", err), "gossip_keys_fixed")
	case errors.Is(err, cluster.ErrNoIdentity):
		return withCode(newProblem(ProblemConflict, "", "%v", err), "no_identity")
	case errors.Is(err, cluster.ErrInvalidGossipKeys):
		return withCode(newProblem(ProblemInvalidField, "keys", "%v", err), "invalid")
	}
	return err
}

// gossipKeysInput is the body of PUT /v1/cluster/gossip-keys.
type gossipKeysInput struct {
	// Keys is the keyring, base64, the primary first.
	Keys []string `json:"keys"`
}

// gossipKeysView is the answer of PUT /v1/cluster/gossip-keys: key ids,
// never keys.
type gossipKeysView struct {
	NodeID  string   `json:"nodeId"`
	Primary string   `json:"primary"`
	Keys    []string `json:"keys"`
}

// setGossipKeys replaces this node's gossip keyring (PUT
// /v1/cluster/gossip-keys). Only the leader calls it, during a rotation:
// the route admits a member's certificate alone (role node), and the
// member must be the leader this node knows.
func (s *Server) setGossipKeys(w http.ResponseWriter, r *http.Request) error {
	kr, err := s.gossipKeyring()
	if err != nil {
		return err
	}
	// The route's role already admits only a member's certificate; the
	// check is repeated here, and narrowed to the leader.
	from := s.peerNodeID(r)
	leader, _ := s.node.Leader()
	switch {
	case from == "":
		return withCode(newProblem(ProblemForbidden, "", "only a cluster member's certificate may set gossip keys"), "role")
	case from != leader:
		return withCode(newProblem(ProblemForbidden, "", "only the leader sets gossip keys: %s is not the leader this node follows (%q)", from, leader), "not_leader")
	}
	var in gossipKeysInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	var errs fieldErrors
	keys := make([][]byte, 0, len(in.Keys))
	switch {
	case len(in.Keys) == 0:
		errs.required("keys")
	case len(in.Keys) > cluster.MaxGossipKeys:
		errs.invalid("keys", "at most %d keys", cluster.MaxGossipKeys)
	}
	for i, k := range in.Keys {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || (len(b) != 16 && len(b) != 24 && len(b) != 32) {
			errs.invalid(fmt.Sprintf("keys[%d]", i), "must be base64 of a 16, 24 or 32 byte key")
			continue
		}
		keys = append(keys, b)
	}
	if err := errs.err(); err != nil {
		return err
	}
	if err := kr.SetGossipKeys(keys); err != nil {
		return gossipKeysProblem(err)
	}
	ids := gossipKeyIDs(keys)
	writeJSON(w, http.StatusOK, gossipKeysView{NodeID: s.node.NodeID(), Primary: ids[0], Keys: ids})
	return nil
}

// gossipRotationView is the answer of POST /v1/cluster/gossip-key/rotate.
type gossipRotationView struct {
	// Primary is the id of the new key, the only one left.
	Primary string `json:"primary"`
	// Previous are the ids of the keys it replaced.
	Previous []string `json:"previous"`
	// Members are the node ids that hold the new key alone.
	Members []string `json:"members"`
}

// keyTarget is a member a phase installs a keyring on.
type keyTarget struct {
	id, apiAddr string
	self        bool
}

// rotateGossipKey rotates the cluster's gossip key (POST
// /v1/cluster/gossip-key/rotate; operator role; on the leader, a follower
// forwards). See the top of this file for the phases.
func (s *Server) rotateGossipKey(w http.ResponseWriter, r *http.Request) error {
	kr, err := s.rotationRequest(w, r)
	if err != nil {
		return err
	}
	if _, busy := gossipRotations.LoadOrStore(s, struct{}{}); busy {
		return withCode(newProblem(ProblemConflict, "", "a gossip key rotation is under way; wait for it to finish"), "rotation_in_progress")
	}
	defer gossipRotations.Delete(s)
	old, key, err := newGossipKey(kr)
	if err != nil {
		return err
	}
	// The rotation finishes (or is undone) even if the caller goes away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), gossipRotationTimeout)
	defer cancel()
	rot := &gossipRotation{s: s, kr: kr, id: cluster.GossipKeyID(key)}
	previous := gossipKeyIDs(old)
	s.log.Info("gossip key rotation: start", "key", rot.id, "previous", previous)
	ids, err := rot.run(ctx, old, key)
	if err != nil {
		return err
	}
	s.log.Info("gossip key rotation: done", "key", rot.id, "members", ids)
	writeJSON(w, http.StatusOK, gossipRotationView{Primary: rot.id, Previous: previous, Members: ids})
	return nil
}

// rotationRequest checks a rotation request: a node with a keyring, an empty
// body (or an empty object), and this node the leader.
func (s *Server) rotationRequest(w http.ResponseWriter, r *http.Request) (GossipKeyring, error) {
	kr, err := s.gossipKeyring()
	if err != nil {
		return nil, err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) > 0 {
		var in struct{}
		if err := decodeStrict(body, &in, ""); err != nil {
			return nil, err
		}
	}
	if err := s.requireLeader(); err != nil {
		return nil, err
	}
	return kr, nil
}

// newGossipKey returns the node's keyring and a new random key to rotate
// to, refusing when the keyring has no room for it.
func newGossipKey(kr GossipKeyring) (old [][]byte, key []byte, err error) {
	old, err = kr.GossipKeys()
	if err != nil {
		return nil, nil, gossipKeysProblem(err)
	}
	if len(old) >= cluster.MaxGossipKeys {
		return nil, nil, withCode(newProblem(ProblemConflict, "", "the gossip keyring holds %d keys, the most it can: rotations failed part-way; "+
			"check the members with trustctl cluster members", len(old)), "keyring_full")
	}
	key = make([]byte, cluster.GossipKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, err
	}
	return old, key, nil
}

// run takes the cluster from the keyring old to key alone in three phases
// and returns the ids of the members that hold key alone, sorted. A phase
// that fails ends the rotation with a problem; a failure in phase 1 is
// undone first.
func (rot *gossipRotation) run(ctx context.Context, old [][]byte, key []byte) ([]string, error) {
	// Phase 1: add the new key, the primary unchanged.
	added, failed := rot.phase(ctx, "1/3 add the new key", append(cloneKeys(old), key))
	if len(failed) > 0 {
		return nil, rot.undo(ctx, added, old, failed)
	}
	// Phase 2: encrypt with the new key. Every member decrypts both.
	if _, failed := rot.phase(ctx, "2/3 make it primary", append([][]byte{key}, old...)); len(failed) > 0 {
		return nil, retryLater(withCode(newProblem(ProblemUnavailable, "", "the new gossip key %s could not be made primary on %s; every member holds both the old "+
			"and the new keys, so gossip is unaffected: rotate again once they are back", rot.id, describeFailures(failed)), "rotation_incomplete"), 5)
	}
	// Phase 3: drop the old keys.
	done, failed := rot.phase(ctx, "3/3 remove the old keys", [][]byte{key})
	if len(failed) > 0 {
		return nil, retryLater(withCode(newProblem(ProblemUnavailable, "", "the new gossip key %s is primary everywhere, but the old keys could not be removed "+
			"on %s: rotate again once they are back", rot.id, describeFailures(failed)), "rotation_incomplete"), 5)
	}
	return targetIDs(done), nil
}

// undo takes the new key off the members phase 1 added it to, after it
// failed on others, and returns the problem that answers the rotation.
func (rot *gossipRotation) undo(ctx context.Context, added []keyTarget, old [][]byte, failed map[string]error) error {
	_, undoFailed := rot.install(ctx, added, old)
	rot.s.log.Warn("gossip key rotation: undone", "key", rot.id, "failed", failed, "undo_failed", undoFailed)
	detail := fmt.Sprintf("the new gossip key could not be added on %s; the rotation was undone and the keys are unchanged", describeFailures(failed))
	if len(undoFailed) > 0 {
		detail += fmt.Sprintf(" (except on %s, which also holds the unused new key %s until the next rotation)", describeFailures(undoFailed), rot.id)
	}
	return retryLater(withCode(newProblem(ProblemUnavailable, "", "%s: bring them back, or remove them from the cluster, and rotate again", detail), "members_unreachable"), 5)
}

// gossipKeyIDs returns the ids of keys, in order.
func gossipKeyIDs(keys [][]byte) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = cluster.GossipKeyID(k)
	}
	return ids
}

// targetIDs returns the node ids of targets, sorted.
func targetIDs(targets []keyTarget) []string {
	ids := make([]string, len(targets))
	for i, t := range targets {
		ids[i] = t.id
	}
	sort.Strings(ids)
	return ids
}

// gossipRotation is one rotation under way.
type gossipRotation struct {
	s  *Server
	kr GossipKeyring
	id string // the new key's id
}

// phase installs keys on every member of the Raft configuration as it is
// now, and logs the outcome. Losing leadership fails the phase.
func (rot *gossipRotation) phase(ctx context.Context, name string, keys [][]byte) (ok []keyTarget, failed map[string]error) {
	s := rot.s
	if err := s.requireLeader(); err != nil {
		return nil, map[string]error{s.node.NodeID(): fmt.Errorf("this node no longer leads: %w", err)}
	}
	targets, err := rot.targets()
	if err != nil {
		return nil, map[string]error{s.node.NodeID(): err}
	}
	ok, failed = rot.install(ctx, targets, keys)
	ids := targetIDs(ok)
	if len(failed) > 0 {
		s.log.Warn("gossip key rotation: phase failed", "phase", name, "key", rot.id, "done", ids, "failed", describeFailures(failed))
	} else {
		s.log.Info("gossip key rotation: phase done", "phase", name, "key", rot.id, "members", ids)
	}
	return ok, failed
}

// targets are the members of the Raft configuration, voters and read
// replicas alike (nodes gossip alone knows are not members).
func (rot *gossipRotation) targets() ([]keyTarget, error) {
	ms, err := rot.s.cluster.Members()
	if err != nil {
		return nil, err
	}
	var out []keyTarget
	for _, m := range ms.Members {
		if m.Suffrage == cluster.SuffrageNone {
			continue
		}
		out = append(out, keyTarget{id: m.ID, apiAddr: m.APIAddr, self: m.Self})
	}
	return out, nil
}

// install sets keys on every target at once: this node directly, the
// others over node-to-node HTTP.
func (rot *gossipRotation) install(ctx context.Context, targets []keyTarget, keys [][]byte) (ok []keyTarget, failed map[string]error) {
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if t.self {
				errs[i] = rot.kr.SetGossipKeys(keys)
			} else {
				errs[i] = rot.s.putGossipKeys(ctx, t, keys)
			}
		}()
	}
	wg.Wait()
	failed = map[string]error{}
	for i, t := range targets {
		if errs[i] != nil {
			failed[t.id] = errs[i]
		} else {
			ok = append(ok, t)
		}
	}
	return ok, failed
}

// putGossipKeys sets member t's keyring with PUT /v1/cluster/gossip-keys,
// authenticated by this node's certificate (no token), and checks the
// member answers with the primary asked for.
func (s *Server) putGossipKeys(ctx context.Context, t keyTarget, keys [][]byte) error {
	if t.apiAddr == "" {
		return errors.New("its API address is unknown")
	}
	cl, err := s.peerClient(t.apiAddr)
	if err != nil {
		return fmt.Errorf("its API address %q: %w", t.apiAddr, err)
	}
	encoded := make([]string, len(keys))
	for i, k := range keys {
		encoded[i] = base64.StdEncoding.EncodeToString(k)
	}
	ctx, cancel := context.WithTimeout(withPeer(ctx, t.id), gossipKeyPeerTimeout)
	defer cancel()
	out, err := cl.SetGossipKeys(ctx, encoded)
	if err != nil {
		return errors.New(peerError(err))
	}
	if want := cluster.GossipKeyID(keys[0]); out.Primary != want {
		return fmt.Errorf("PUT /v1/cluster/gossip-keys: the member reports primary %q, not %q", out.Primary, want)
	}
	return nil
}

// describeFailures names the members that failed and why, sorted by id.
func describeFailures(failed map[string]error) string {
	ids := make([]string, 0, len(failed))
	for id := range failed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%s (%v)", id, failed[id])
	}
	return strings.Join(parts, ", ")
}

func cloneKeys(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = bytes.Clone(k)
	}
	return out
}
