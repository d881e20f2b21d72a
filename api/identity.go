package api

import (
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
)

// Cluster identity routes (docs/operations.md, "Joining"): the CA clients
// pin, certificates for joining nodes, the enrollment of a node that has
// not joined yet, and the CA key for voters.

// clusterCA publishes the cluster CA certificate, which clients and
// joining nodes pin (by its fingerprint, from a trusted source: the
// answer itself proves nothing to a client that has no pin yet).
func (s *Server) clusterCA(w http.ResponseWriter, r *http.Request) error {
	cb, err := s.clusterBackend()
	if err != nil {
		return err
	}
	pemBytes, fp := cb.ClusterCA()
	if fp == "" {
		return withCode(newProblem(ProblemNotFound, "", "this node has no cluster CA (it has not joined yet, runs insecure, or uses the operator's PKI)"), "no_cluster_ca")
	}
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, client.ClusterCA{Certificate: string(pemBytes), Fingerprint: fp})
	return nil
}

// maxCSRBytes bounds a certificate request.
const maxCSRBytes = 8 << 10

// issueIdentity signs a joining node's certificate request (operator
// role; the leader answers, a follower forwards) and answers with the
// node's certificate, the cluster CA and the gossip keyring. The answer is
// secret: Cache-Control no-store. A node id that is a member already is
// refused (409): its certificate would let the holder pose as it.
func (s *Server) issueIdentity(w http.ResponseWriter, r *http.Request) error {
	cb, err := s.clusterBackend()
	if err != nil {
		return err
	}
	var in client.IdentityRequest
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	var errs fieldErrors
	id := errs.id("nodeId", in.NodeID, true)
	switch {
	case in.CSR == "":
		errs.required("csr")
	case len(in.CSR) > maxCSRBytes:
		errs.invalid("csr", "at most 8 KiB")
	}
	if err := errs.err(); err != nil {
		return err
	}
	g, err := cb.IssueIdentity(cluster.IdentityRequest{NodeID: id, CSR: []byte(in.CSR), Voter: in.Voter == nil || *in.Voter})
	if errors.Is(err, cluster.ErrNoClusterCA) {
		err = withCode(newProblem(ProblemConflict, "", "%v: this cluster's nodes bring their own certificates (--tls-cert-file)", err), "no_cluster_ca")
	}
	if err != nil {
		return err
	}
	keys := make([]string, len(g.GossipKeys))
	for i, k := range g.GossipKeys {
		keys[i] = base64.StdEncoding.EncodeToString(k)
	}
	out := client.IdentityGrant{NodeID: g.NodeID, Certificate: string(g.Certificate), CACertificate: string(g.CACertificate),
		GossipKeys: keys, Members: g.Members}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
	return nil
}

// enrollment answers, on a node that has not joined yet, with the
// certificate request an operator takes to the cluster (trustctl cluster
// join): its node id, CSR and the fingerprint of its key. The node serves
// its API over TLS with a self-signed certificate of that same key, so
// the operator's tool checks it is talking to the node whose key it gets
// certified. A node that has an identity answers 409.
func (s *Server) enrollment(w http.ResponseWriter, r *http.Request) error {
	cb, err := s.clusterBackend()
	if err != nil {
		return err
	}
	if cb.HasIdentity() {
		return withCode(newProblem(ProblemConflict, "", "this node already has its cluster identity (or uses the operator's PKI, or runs insecure): join it with POST /v1/cluster/join alone"), "enrolled")
	}
	req, err := cb.NewIdentityRequest()
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, client.Enrollment{NodeID: req.NodeID, CSR: string(req.CSR), Voter: req.Voter,
		EnrollmentKey: cb.EnrollmentKey()})
	return nil
}

// enrollInput is the body of POST /v1/cluster/enrollment: the identity
// the cluster granted (the answer of POST /v1/cluster/identity) and,
// when given, the fingerprint the granted CA must have.
type enrollInput struct {
	client.IdentityGrant
	CAFingerprint string `json:"caFingerprint"`
}

// enroll installs the identity the cluster granted this node, once: the
// certificate must be for this node's id and pending key. It needs no
// token (the node has no tokens before it joins) and TLS (the answer of
// the cluster carries its CA key and gossip keys).
func (s *Server) enroll(w http.ResponseWriter, r *http.Request) error {
	cb, err := s.clusterBackend()
	if err != nil {
		return err
	}
	var in enrollInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	var errs fieldErrors
	errs.id("nodeId", in.NodeID, true)
	for field, v := range map[string]string{"certificate": in.Certificate, "caCertificate": in.CACertificate} {
		if v == "" {
			errs.required(field)
		}
	}
	if len(in.GossipKeys) == 0 {
		errs.required("gossipKeys")
	}
	g := cluster.IdentityGrant{NodeID: in.NodeID, Certificate: []byte(in.Certificate), CACertificate: []byte(in.CACertificate),
		Members: in.Members}
	for _, k := range in.GossipKeys {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			errs.invalid("gossipKeys", "must be base64")
			break
		}
		g.GossipKeys = append(g.GossipKeys, b)
	}
	if err := errs.err(); err != nil {
		return err
	}
	err = cb.InstallIdentity(g, in.CAFingerprint)
	switch {
	case errors.Is(err, cluster.ErrIdentityExists):
		err = withCode(newProblem(ProblemConflict, "", "%v", err), "enrolled")
	case errors.Is(err, cluster.ErrIdentityMismatch):
		err = newProblem(ProblemInvalidField, "certificate", "%v", err)
	}
	if err != nil {
		return err
	}
	_, fp := cb.ClusterCA()
	writeJSON(w, http.StatusOK, map[string]any{"nodeId": in.NodeID, "caFingerprint": fp})
	return nil
}

// caKey hands the cluster CA key to a voter that asks with its own
// certificate (node to node, on the leader), so that whichever voter leads
// can admit nodes.
func (s *Server) caKey(w http.ResponseWriter, r *http.Request) error {
	cb, err := s.clusterBackend()
	if err != nil {
		return err
	}
	key, err := cb.CAKeyFor(s.peerNodeID(r))
	if errors.Is(err, cluster.ErrUnknownMember) {
		err = withCode(newProblem(ProblemForbidden, "", "%v", err), "not_voter")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"caKey": string(key)})
	return nil
}
