package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/fsm"
)

// ClusterBackend is what forwarding and the cluster endpoints need from a
// node besides Backend. *cluster.Node satisfies it. With a Backend that
// does not, nothing is forwarded and the cluster endpoints answer 501.
type ClusterBackend interface {
	// Self describes this node as it would ask to join.
	Self() cluster.Peer
	// LeaderAPIAddr is the leader's API base URL ("" when unknown).
	LeaderAPIAddr() string
	// Members is the cluster as this node sees it.
	Members() (cluster.Membership, error)
	// Join, RemoveServer, TransferLeadership and Restore run on the
	// leader; elsewhere they answer *cluster.NotLeaderError.
	Join(ctx context.Context, p cluster.Peer) (cluster.JoinResult, error)
	RemoveServer(ctx context.Context, id string) error
	TransferLeadership(ctx context.Context, id string) (string, error)
	Restore(ctx context.Context, r io.Reader) (cluster.RestoreResult, error)
	// Backup takes a consistent snapshot of the local state.
	Backup() *cluster.Backup
	// CaughtUp tells whether the node has applied what the cluster had
	// committed when it started.
	CaughtUp() bool
	// Secure tells whether node-to-node channels authenticate their peer
	// (false only for a node that runs insecure).
	Secure() bool
	// PeerClientTLS is the TLS configuration for node-to-node HTTP to
	// member id; PeerNodeID names the member a TLS client certificate
	// proves.
	PeerClientTLS(id string) *tls.Config
	PeerNodeID(cs *tls.ConnectionState) (string, bool)
	// ClusterCA is the cluster CA certificate (PEM) and its fingerprint,
	// empty when the node has none.
	ClusterCA() (pemBytes []byte, fingerprint string)
	// IssueIdentity signs a joining node's certificate request; it runs
	// on the leader. CAKeyFor hands the CA key to a voter.
	IssueIdentity(req cluster.IdentityRequest) (cluster.IdentityGrant, error)
	CAKeyFor(id string) ([]byte, error)
	// HasIdentity, NewIdentityRequest, EnrollmentKey and InstallIdentity
	// serve the enrollment of a node that has not joined yet.
	HasIdentity() bool
	NewIdentityRequest() (cluster.IdentityRequest, error)
	EnrollmentKey() string
	InstallIdentity(g cluster.IdentityGrant, pin string) error
}

var _ ClusterBackend = (*cluster.Node)(nil)

func (s *Server) clusterBackend() (ClusterBackend, error) {
	if s.cluster == nil {
		return nil, newProblem(ProblemNotImplemented, "", "this node has no cluster membership")
	}
	return s.cluster, nil
}

// getCluster answers with this node's view of the cluster, completed with
// each reachable member's own status (GET /v1/status, asked with the
// caller's token, at most cfg.ClusterProbeTimeout per member).
func (s *Server) getCluster(w http.ResponseWriter, r *http.Request) error {
	cb, err := s.clusterBackend()
	if err != nil {
		return err
	}
	ms, err := cb.Members()
	if err != nil {
		return err
	}
	v := client.Cluster{NodeID: s.node.NodeID(), LeaderID: ms.LeaderID, Term: ms.Term, CommitIndex: ms.CommitIndex,
		AppliedIndex: ms.AppliedIndex, Voters: ms.Voters, Quorum: ms.Quorum, FailureTolerance: ms.FailureTolerance,
		Members: make([]client.ClusterMember, len(ms.Members))}
	var wg sync.WaitGroup
	for i, m := range ms.Members {
		mv := &v.Members[i]
		*mv = client.ClusterMember{ID: m.ID, Region: m.Region, Role: m.Role, Suffrage: m.Suffrage, RaftAddr: m.RaftAddr,
			APIAddr: m.APIAddr, GossipAddr: m.GossipAddr, Gossip: m.Gossip, Leader: m.Leader, Self: m.Self,
			Lag: -1, LastContact: -1}
		if !m.GossipSince.IsZero() {
			mv.GossipSince = fsm.FormatTime(m.GossipSince.UnixMilli())
		}
		switch {
		case m.Self:
			st := s.ledger().Status()
			mv.Reachable, mv.State, mv.AppliedIndex, mv.Digest = true, s.node.State(), s.node.AppliedIndex(), st.Digest
			mv.LastContact = s.lastContactMS()
		case m.APIAddr == "":
			mv.Error = "API address unknown"
		case m.Suffrage == cluster.SuffrageNone:
			// Not in the Raft configuration: gossip alone vouches for it.
			mv.Error = "not a Raft member: not probed"
		case !cb.Secure():
			// Probes authenticate with this node's certificate, never with
			// the caller's token; an insecure node has none to show.
			mv.Error = "not probed: this node runs insecure and sends no credentials to members"
		case m.Gossip == cluster.GossipDead || m.Gossip == cluster.GossipLeft:
			mv.Error = "gossip reports it " + m.Gossip
		default:
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.probeMember(r, mv)
			}()
		}
	}
	wg.Wait()
	var ref uint64
	for _, m := range v.Members {
		if m.Reachable && (m.Leader || ms.LeaderID == "") {
			ref = max(ref, m.AppliedIndex)
		}
	}
	for i := range v.Members {
		if m := &v.Members[i]; m.Reachable && ref > 0 {
			m.Lag = int64(ref) - int64(m.AppliedIndex) // #nosec G115 -- Raft indexes stay far below 2^63
			m.Lag = max(m.Lag, 0)
		}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// probeMember asks a member for its status over node-to-node TLS,
// authenticated by this node's certificate: the caller's token never
// leaves this node, and the member must prove with its certificate that
// it is the node the Raft configuration names.
func (s *Server) probeMember(r *http.Request, mv *client.ClusterMember) {
	ctx, cancel := context.WithTimeout(withPeer(r.Context(), mv.ID), s.cfg.ClusterProbeTimeout)
	defer cancel()
	cl, err := s.peerClient(mv.APIAddr)
	if err != nil {
		mv.Error = err.Error()
		return
	}
	st, _, err := cl.Status(ctx)
	if err != nil {
		mv.Error = peerError(err)
		return
	}
	mv.Reachable, mv.State, mv.AppliedIndex, mv.Digest, mv.LastContact = true, st.State, st.AppliedIndex, st.Digest, st.LastContact
	if mv.Region == "" {
		mv.Region = st.Region
	}
}

// joinPeer checks the body of POST /v1/cluster/join.
func joinPeer(in *client.JoinRequest) (cluster.Peer, error) {
	var errs fieldErrors
	p := cluster.Peer{ID: errs.id("nodeId", in.NodeID, true), Voter: in.Voter == nil || *in.Voter,
		Region: errs.text("region", in.Region, false, 64)}
	p.RaftAddr = errs.dialable("raftAddr", in.RaftAddr, true)
	p.GossipAddr = errs.dialable("gossipAddr", in.GossipAddr, false)
	p.APIAddr = in.APIAddr
	switch u, err := url.Parse(in.APIAddr); {
	case in.APIAddr == "":
		errs.required("apiAddr")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		errs.invalid("apiAddr", "must be the node's API base URL, such as http://10.0.0.2:8470")
	}
	return p, errs.err()
}

// dialable checks a host:port other nodes can dial.
func (f *fieldErrors) dialable(field, v string, required bool) string {
	if v == "" {
		if required {
			f.required(field)
		}
		return v
	}
	host, port, err := net.SplitHostPort(v)
	n, perr := strconv.Atoi(port)
	ip := net.ParseIP(host)
	if err != nil || host == "" || perr != nil || n < 1 || n > 65535 || (ip != nil && ip.IsUnspecified()) {
		f.invalid(field, "must be a host:port other nodes can dial, such as 10.0.0.2:8471")
	}
	return v
}

// joinCluster adds a node to the cluster. Joining is idempotent: 201 when
// the node was added, 200 otherwise (changed says whether a promotion or
// demotion happened). The answer lists the members, so that the joining
// node can contact them before gossip has run.
func (s *Server) joinCluster(w http.ResponseWriter, r *http.Request) error {
	cb, err := s.clusterBackend()
	if err != nil {
		return err
	}
	var in client.JoinRequest
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	p, err := joinPeer(&in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ProposeTimeout)
	defer cancel()
	res, err := cb.Join(ctx, p)
	if err != nil {
		return err
	}
	requestInfoFrom(r.Context()).index = res.Index
	out := client.JoinResult{Action: res.Action, Changed: res.Action != cluster.JoinNone, Index: res.Index, NodeID: p.ID,
		LeaderID: s.node.NodeID(), Members: s.peerList(cb)}
	status := http.StatusOK
	if res.Action == cluster.JoinAdded {
		status = http.StatusCreated
	}
	writeJSON(w, status, out)
	return nil
}

func (s *Server) peerList(cb ClusterBackend) []client.Peer {
	out := []client.Peer{}
	ms, err := cb.Members()
	if err != nil {
		return out
	}
	for _, m := range ms.Members {
		if m.Suffrage == cluster.SuffrageNone {
			continue
		}
		out = append(out, client.Peer{NodeID: m.ID, RaftAddr: m.RaftAddr, APIAddr: m.APIAddr, GossipAddr: m.GossipAddr,
			Region: m.Region, Voter: m.Suffrage == cluster.SuffrageVoter})
	}
	return out
}

// removeNode removes a node from the Raft configuration.
func (s *Server) removeNode(w http.ResponseWriter, r *http.Request) error {
	cb, err := s.clusterBackend()
	if err != nil {
		return err
	}
	id := chi.URLParam(r, "id")
	if !fsm.ValidID(id) {
		return withCode(newProblem(ProblemInvalidParameter, "id", "id: not a node id"), "invalid")
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ProposeTimeout)
	defer cancel()
	if err := cb.RemoveServer(ctx, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodeId": id, "removed": true})
	return nil
}

// transferLeadership hands leadership to {"id"} or, without one, to the
// most up-to-date voter.
func (s *Server) transferLeadership(w http.ResponseWriter, r *http.Request) error {
	cb, err := s.clusterBackend()
	if err != nil {
		return err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	var in struct {
		ID string `json:"id"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeStrict(body, &in, ""); err != nil {
			return err
		}
	}
	var errs fieldErrors
	errs.id("id", in.ID, false)
	if err := errs.err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ProposeTimeout)
	defer cancel()
	leader, err := cb.TransferLeadership(ctx, in.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"leaderId": leader, "previousLeaderId": s.node.NodeID()})
	return nil
}

// snapshot streams a consistent snapshot of the replicated state, as the
// node that answers (the leader, unless ?consistency=stale) has applied
// it. X-Trust-Snapshot-Index names the Raft index it reflects.
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) error {
	cb, err := s.clusterBackend()
	if err != nil {
		return err
	}
	b := cb.Backup()
	defer b.Release()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="trustledger-%d.snap"`, b.Index()))
	h.Set("X-Trust-Snapshot-Index", strconv.FormatUint(b.Index(), 10))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := b.WriteTo(w); err != nil && r.Context().Err() == nil {
		s.log.Warn("writing a snapshot failed part-way", "error", err)
	}
	return nil
}

// restore replaces the replicated state of the whole cluster with the
// snapshot in the body (application/octet-stream).
func (s *Server) restore(w http.ResponseWriter, r *http.Request) error {
	cb, err := s.clusterBackend()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RestoreTimeout)
	defer cancel()
	res, err := cb.Restore(ctx, http.MaxBytesReader(w, r.Body, s.cfg.MaxRestoreBytes))
	if err != nil {
		return err
	}
	requestInfoFrom(r.Context()).index = res.Index
	writeJSON(w, http.StatusOK, map[string]any{"index": res.Index, "sequence": res.Sequence, "digest": res.Digest,
		"snapshotIndex": res.SnapshotIndex, "bytes": res.Bytes, "restoredAt": fsm.FormatTime(time.Now().UnixMilli())})
	return nil
}
