package main

import (
	"crypto/tls"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/internal/testpki"
)

// Certificates are rotated on a running three-node cluster under the
// operator's PKI, with requests (reads on the nodes, writes forwarded by a
// follower) running all along: each node serves its new certificate
// within seconds of its files changing, Raft and forwarding go on, no
// request fails; a certificate naming another node is refused and the
// old one kept.
func TestTLSCertificateRotationWithoutFailedRequests(t *testing.T) {
	t.Parallel()
	ca := testpki.NewCA(t, "cluster")
	files := func(id string) (certFile, keyFile string) {
		dir := t.TempDir()
		p := ca.Issue(id)
		certFile, keyFile = filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key")
		copyFile(t, p.CertFile, certFile)
		copyFile(t, p.KeyFile, keyFile)
		return certFile, keyFile
	}
	c1, k1 := files("node1")
	addr1, dir1 := startNode(t, "node1", "--tls-cert-file", c1, "--tls-key-file", k1, "--tls-client-ca-file", ca.CertFile, "--reload-interval", "100ms")
	ctx := ctxT(t, 90*time.Second)
	var token string
	waitUntil(t, 30*time.Second, "admin token", func() error {
		b, err := os.ReadFile(filepath.Join(dir1, adminTokenFile)) // #nosec G304 -- the test's own file
		token = strings.TrimSpace(string(b))
		return err
	})
	tokenFile := filepath.Join(t.TempDir(), "op.token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	c2, k2 := files("node2")
	addr2, _ := startNode(t, "node2", "--join", "https://"+addr1, "--token-file", tokenFile,
		"--tls-cert-file", c2, "--tls-key-file", k2, "--tls-ca-file", ca.CertFile, "--reload-interval", "100ms")
	newClient := func(addr string) *client.Client {
		cl, err := client.New(client.Config{Address: "https://" + addr, Token: token, TLS: client.TLSConfig{CAFile: ca.CertFile},
			Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	leader, follower := newClient(addr1), newClient(addr2)
	waitUntil(t, 30*time.Second, "node2 joins", func() error {
		_, err := follower.PutOrg(ctx, "warmup", client.OrgSpec{BaseTrustScore: "50"})
		return err
	})
	c3, k3 := files("node3")
	addr3, _ := startNode(t, "node3", "--join", "https://"+addr1, "--token-file", tokenFile,
		"--tls-cert-file", c3, "--tls-key-file", k3, "--tls-ca-file", ca.CertFile, "--reload-interval", "100ms")
	third := newClient(addr3)
	waitUntil(t, 30*time.Second, "node3 joins as the third voter", func() error {
		v, err := leader.Cluster(ctx)
		if err != nil {
			return err
		}
		if v.Voters != 3 {
			return fmt.Errorf("%d voters", v.Voters)
		}
		_, _, err = third.GetOrg(ctx, "warmup", &client.ReadOptions{Consistency: client.ConsistencyStale})
		return err
	})

	// Requests all along: a write through the follower (forwarded to the
	// leader over TLS, replicated over Raft's mutual TLS) and a read on each.
	var ok, failed atomic.Int64
	var firstErr atomic.Pointer[error]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, err := follower.PutOrg(ctx, fmt.Sprintf("o%d", i%50), client.OrgSpec{BaseTrustScore: "60"})
			if err == nil {
				_, _, err = leader.GetOrg(ctx, "warmup", nil)
			}
			if err == nil {
				_, _, err = follower.GetOrg(ctx, "warmup", &client.ReadOptions{Consistency: client.ConsistencyStale})
			}
			if err == nil {
				_, _, err = third.GetOrg(ctx, "warmup", nil) // forwarded to the leader
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, &err)
			} else {
				ok.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	rotate := func(id, certFile, keyFile, addr string) {
		t.Helper()
		before := servedSerial(t, addr, ca)
		p := ca.Issue(id)
		replaceFile(t, p.CertFile, certFile)
		replaceFile(t, p.KeyFile, keyFile)
		want := p.Cert.Leaf.SerialNumber
		if want == nil {
			t.Fatal("the issued pair has no parsed leaf")
		}
		waitUntil(t, 10*time.Second, id+" serves its new certificate", func() error {
			if got := servedSerial(t, addr, ca); got.Cmp(want) != 0 {
				return fmt.Errorf("serves serial %v (before %v), want %v", got, before, want)
			}
			return nil
		})
	}
	// Requests run before, between and after the rotations.
	moreRounds := func(n int64) {
		t.Helper()
		target := ok.Load() + failed.Load() + n
		waitUntil(t, 10*time.Second, "request rounds", func() error {
			if done := ok.Load() + failed.Load(); done < target {
				return fmt.Errorf("%d of %d rounds", done, target)
			}
			return nil
		})
	}
	moreRounds(5)
	rotate("node1", c1, k1, addr1)
	rotate("node2", c2, k2, addr2)
	rotate("node3", c3, k3, addr3)
	moreRounds(5)

	// A certificate for another node id is refused: node2 keeps its own.
	kept := servedSerial(t, addr2, ca)
	wrong := ca.Issue("node9")
	replaceFile(t, wrong.CertFile, c2)
	replaceFile(t, wrong.KeyFile, k2)
	// Nothing to poll for: the point is that nothing changes over 8
	// checks of the files (--reload-interval 100ms).
	time.Sleep(800 * time.Millisecond)
	if got := servedSerial(t, addr2, ca); got.Cmp(kept) != 0 {
		t.Errorf("node2 took a certificate naming node9 (serial %v, kept %v)", got, kept)
	}
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d request rounds failed during the rotations; first: %v", failed.Load(), failed.Load()+ok.Load(), *firstErr.Load())
	}
	if ok.Load() < 20 {
		t.Fatalf("only %d request rounds ran", ok.Load())
	}
	t.Logf("%d request rounds (a forwarded write and three reads each), none failed, across three rotations and a refused one", ok.Load())
}

// servedSerial is the serial number of the certificate addr serves.
func servedSerial(t *testing.T, addr string, ca *testpki.CA) *big.Int {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Pool})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from) // #nosec G304 -- the test's own files
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// replaceFile puts from's contents at to atomically (write, then rename),
// as a certificate manager does.
func replaceFile(t *testing.T, from, to string) {
	t.Helper()
	tmp := to + ".new"
	copyFile(t, from, tmp)
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}
