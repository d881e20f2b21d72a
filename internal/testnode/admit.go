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
	_, pin := leader.ClusterCA()
	admit(t, n, pin, leader.NodeID(), leader.IssueIdentity)
}

// AdmitViaAPI hands n its cluster identity through the API of the member
// at url (POST /v1/cluster/identity over TLS, the CA pinned to pin), as
// trustd --join does.
func AdmitViaAPI(ctx context.Context, t testing.TB, url, token, pin string, n *cluster.Node) {
	t.Helper()
	u, err := client.ParseAddress(url)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "https"
	cl, err := client.New(client.Config{Address: u.String(), Token: token, TLS: client.TLSConfig{CAFingerprint: pin}})
	if err != nil {
		t.Fatal(err)
	}
	admit(t, n, pin, url, func(req cluster.IdentityRequest) (cluster.IdentityGrant, error) {
		voter := req.Voter
		g, err := cl.RequestIdentity(ctx, client.IdentityRequest{NodeID: req.NodeID, CSR: string(req.CSR), Voter: &voter})
		if err != nil {
			return cluster.IdentityGrant{}, err
		}
		grant := cluster.IdentityGrant{NodeID: g.NodeID, Certificate: []byte(g.Certificate), CACertificate: []byte(g.CACertificate),
			Members: g.Members}
		for _, k := range g.GossipKeys {
			b, err := base64.StdEncoding.DecodeString(k)
			if err != nil {
				return cluster.IdentityGrant{}, err
			}
			grant.GossipKeys = append(grant.GossipKeys, b)
		}
		return grant, nil
	})
}

// admit has issuer (named from) sign n's certificate request and installs
// the identity on n with the CA pinned to pin, unless n has one.
func admit(t testing.TB, n *cluster.Node, pin, from string, issue func(cluster.IdentityRequest) (cluster.IdentityGrant, error)) {
	t.Helper()
	if n.HasIdentity() {
		return
	}
	req, err := n.NewIdentityRequest()
	if err != nil {
		t.Fatalf("%s: identity request: %v", n.NodeID(), err)
	}
	g, err := issue(req)
	if err != nil {
		t.Fatalf("%s: identity from %s: %v", n.NodeID(), from, err)
	}
	if err := n.InstallIdentity(g, pin); err != nil {
		t.Fatalf("%s: install identity: %v", n.NodeID(), err)
	}
}
