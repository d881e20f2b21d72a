package cluster

import (
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// The transport Raft runs on has no heartbeat fast path: a heartbeat
// reaches Raft's main loop through the consumer channel, like every other
// RPC, so it cannot change the term under a leader that is dispatching
// entries (hashicorp/raft#695, see raftTransport). On the plain
// NetworkTransport the same heartbeat goes to the handler instead, which
// is what this test tells apart.
func TestHeartbeatsReachRaftsMainLoop(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		wrap     func(*raft.NetworkTransport) raft.Transport
		wantFast bool
	}{
		{"raftTransport", func(n *raft.NetworkTransport) raft.Transport { return raftTransport{n} }, false},
		{"NetworkTransport", func(n *raft.NetworkTransport) raft.Transport { return n }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			server, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, time.Second, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			client, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, time.Second, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			var fast atomic.Bool
			trans := c.wrap(server)
			trans.SetHeartbeatHandler(func(rpc raft.RPC) {
				fast.Store(true)
				rpc.Respond(&raft.AppendEntriesResponse{Term: 7}, nil)
			})
			consumed := make(chan struct{})
			go func() {
				select {
				case rpc := <-trans.Consumer():
					close(consumed)
					rpc.Respond(&raft.AppendEntriesResponse{Term: 7}, nil)
				case <-time.After(5 * time.Second):
				}
			}()
			heartbeat := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("leader"), Addr: []byte(client.LocalAddr())}, Term: 7}
			var resp raft.AppendEntriesResponse
			if err := client.AppendEntries("server", server.LocalAddr(), heartbeat, &resp); err != nil {
				t.Fatal(err)
			}
			if fast.Load() != c.wantFast {
				t.Fatalf("heartbeat handled on the transport's goroutine: %v, want %v", fast.Load(), c.wantFast)
			}
			if !c.wantFast {
				select {
				case <-consumed:
				case <-time.After(time.Second):
					t.Fatal("the heartbeat never reached the consumer channel")
				}
			}
		})
	}
}
