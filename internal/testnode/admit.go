package testnode

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
)

// Admit hands n the cluster identity leader issues, in process: n's
// certificate request, signed by the leader, installed on n with the
// leader's CA pinned. A node that has an identity is left alone.
func Admit(t testing.TB, leader, n *cluster.Node) {
	t.Helper()
	if n.HasIdentity() {
		return
	}
	req, err := n.NewIdentityRequest()
	if err != nil {
		t.Fatalf("%s: identity request: %v", n.NodeID(), err)
	}
	g, err := leader.IssueIdentity(req)
	if err != nil {
		t.Fatalf("%s: issue identity for %s: %v", leader.NodeID(), n.NodeID(), err)
	}
	_, pin := leader.ClusterCA()
	if err := n.InstallIdentity(g, pin); err != nil {
		t.Fatalf("%s: install identity: %v", n.NodeID(), err)
	}
}

// AdmitViaAPI hands n its cluster identity through the API of the member
// at url (POST /v1/cluster/identity over TLS, the CA pinned to pin), as
// trustd --join does.
func AdmitViaAPI(ctx context.Context, t testing.TB, url, token, pin string, n *cluster.Node) {
	t.Helper()
	if n.HasIdentity() {
		return
	}
	req, err := n.NewIdentityRequest()
	if err != nil {
		t.Fatalf("%s: identity request: %v", n.NodeID(), err)
	}
	u, err := client.ParseAddress(url)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "https"
	cl, err := client.New(client.Config{Address: u.String(), Token: token, TLS: client.TLSConfig{CAFingerprint: pin}})
	if err != nil {
		t.Fatal(err)
	}
	voter := req.Voter
	g, err := cl.RequestIdentity(ctx, client.IdentityRequest{NodeID: req.NodeID, CSR: string(req.CSR), Voter: &voter})
	if err != nil {
		t.Fatalf("%s: request identity from %s: %v", n.NodeID(), url, err)
	}
	grant := cluster.IdentityGrant{NodeID: g.NodeID, Certificate: []byte(g.Certificate), CACertificate: []byte(g.CACertificate),
		Members: g.Members}
	for _, k := range g.GossipKeys {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			t.Fatal(err)
		}
		grant.GossipKeys = append(grant.GossipKeys, b)
	}
	if err := n.InstallIdentity(grant, pin); err != nil {
		t.Fatalf("%s: install identity: %v", n.NodeID(), err)
	}
}
