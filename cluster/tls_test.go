package cluster

import (
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/trustledger/trustledger/fsm"
	"github.com/trustledger/trustledger/internal/testpki"
)

// raftTLS is the mutual TLS configuration of a node holding pair, for a
// cluster whose CA is ca.
func raftTLS(ca *testpki.CA, pair testpki.Pair) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair.Cert}, RootCAs: ca.Pool, ClientCAs: ca.Pool}
}

func tlsConfig(t *testing.T, id string, bootstrap bool, ca *testpki.CA) Config {
	cfg := testConfig(t, id, t.TempDir(), "127.0.0.1:0", bootstrap)
	cfg.RaftTLS = raftTLS(ca, ca.Issue(id))
	return cfg
}

func TestRaftOverTLSReplicates(t *testing.T) {
	t.Parallel()
	ca := testpki.NewCA(t, "cluster")
	n1 := openNode(t, tlsConfig(t, "node1", true, ca))
	waitLeader(t, n1)
	early := workload(t, n1, "x", 2, 1)
	nodes := []*Node{n1}
	for i := 2; i <= 3; i++ {
		n := openNode(t, tlsConfig(t, fmt.Sprintf("node%d", i), false, ca))
		addVoter(t, n1, n)
		nodes = append(nodes, n)
	}
	converged(t, nodes, early.Index)
	last := workload(t, n1, "y", 3, 2)
	converged(t, nodes, last.Index)

	// The leader goes away: the others elect one of themselves over TLS.
	if err := n1.Close(); err != nil {
		t.Fatal(err)
	}
	var leader *Node
	eventually(t, 10*time.Second, func() bool {
		for _, n := range nodes[1:] {
			if n.IsLeader() {
				leader = n
				return true
			}
		}
		return false
	}, "a new leader among node2 and node3")
	res := mustApply(t, leader, &fsm.SetOrg{OrgID: "after", Name: "After", Base: fsm.Point})
	converged(t, nodes[1:], res.Index)
}

// A node whose certificate another CA signed cannot take part: the leader
// does not trust it as a server, and it is refused as a client.
func TestRaftTLSRefusesOtherCA(t *testing.T) {
	t.Parallel()
	ca := testpki.NewCA(t, "cluster")
	n1 := openNode(t, tlsConfig(t, "node1", true, ca))
	waitLeader(t, n1)

	other := testpki.NewCA(t, "intruder")
	// The intruder trusts the cluster CA, so only its own certificate is
	// at fault.
	cfg := testConfig(t, "intruder", t.TempDir(), "127.0.0.1:0", false)
	cfg.RaftTLS = raftTLS(ca, other.Issue("intruder"))
	intruder := openNode(t, cfg)
	if f := n1.Raft().AddNonvoter(raft.ServerID("intruder"), raft.ServerAddress(intruder.RaftAddr()), 0, 10*time.Second); f.Error() != nil {
		t.Fatalf("add nonvoter: %v", f.Error())
	}
	res := mustApply(t, n1, &fsm.SetOrg{OrgID: "secret", Name: "Secret", Base: fsm.Point})
	time.Sleep(time.Second) // the point: give replication a second to (wrongly) reach the intruder
	if got := intruder.AppliedIndex(); got >= res.Index {
		t.Fatalf("the intruder applied index %d (leader wrote %d)", got, res.Index)
	}

	// Dialing the cluster with the intruder's certificate fails the
	// handshake: the node demands a certificate from the cluster CA.
	d := &tls.Dialer{Config: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: cfg.RaftTLS.Certificates, RootCAs: ca.Pool}}
	conn, err := d.Dial("tcp", n1.RaftAddr())
	if err == nil {
		// TLS 1.3: the server checks the client certificate after the
		// client's handshake completes; the refusal arrives on read.
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		_ = conn.Close()
	}
	if err == nil {
		t.Fatal("a certificate from another CA was accepted by the Raft transport")
	}

	// A plaintext Raft client gets nowhere either.
	plain, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = plain.Close() }()
	var resp raft.AppendEntriesResponse
	if err := plain.AppendEntries("intruder", raft.ServerAddress(n1.RaftAddr()), &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ID: []byte("intruder"), Addr: []byte(plain.LocalAddr())}, Term: 1000,
	}, &resp); err == nil {
		t.Fatal("a plaintext AppendEntries was answered")
	}
	if !n1.IsLeader() {
		t.Fatal("node1 lost leadership to a plaintext RPC")
	}
}

func TestRaftTLSConfigChecked(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "node1", t.TempDir(), "127.0.0.1:0", true)
	cfg.RaftTLS = &tls.Config{MinVersion: tls.VersionTLS12}
	if _, err := Open(cfg); err == nil {
		t.Fatal("Raft TLS without a certificate or CA was accepted")
	}
}
