package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/trustledger/trustledger/fsm"
	"github.com/vmihailenco/msgpack/v5"
)

// Peer is what a node tells the cluster about itself: it is the body of a
// join request and, encoded as memberlist node meta, what every node
// gossips.
type Peer struct {
	// ID is the node's Raft server id (and its memberlist name).
	ID string `json:"nodeId"`
	// RaftAddr is the host:port other nodes dial for Raft.
	RaftAddr string `json:"raftAddr"`
	// APIAddr is the base URL of the node's HTTP API (forwarding target).
	APIAddr string `json:"apiAddr"`
	// GossipAddr is the host:port of the node's memberlist; empty when
	// unknown or gossip is off.
	GossipAddr string `json:"gossipAddr,omitempty"`
	// Region is where the node runs; it does not affect Raft.
	Region string `json:"region"`
	// Voter tells whether the node takes part in elections and quorum
	// (false: a read replica, a Raft non-voter).
	Voter bool `json:"voter"`
}

// Validate checks a peer description the way a join request needs it.
func (p Peer) Validate() error {
	var errs []error
	if !fsm.ValidID(p.ID) {
		errs = append(errs, fmt.Errorf("nodeId %q: use 1-%d letters, digits and - _ . : @", p.ID, fsm.MaxIDLen))
	}
	if err := hostPort(p.RaftAddr); err != nil {
		errs = append(errs, fmt.Errorf("raftAddr %q: %w", p.RaftAddr, err))
	}
	if p.GossipAddr != "" {
		if err := hostPort(p.GossipAddr); err != nil {
			errs = append(errs, fmt.Errorf("gossipAddr %q: %w", p.GossipAddr, err))
		}
	}
	if p.APIAddr != "" {
		if err := apiURL(p.APIAddr); err != nil {
			errs = append(errs, fmt.Errorf("apiAddr %q: %w", p.APIAddr, err))
		}
	}
	if len(p.Region) > 64 {
		errs = append(errs, fmt.Errorf("region: at most 64 characters"))
	}
	return errors.Join(errs...)
}

// hostPort accepts a dialable host:port (no wildcard host, non-zero port).
func hostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "" || port == "0" || port == "" {
		return errors.New("want a host and a non-zero port other nodes can dial")
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return errors.New("a wildcard address cannot be dialled; give the node's reachable address")
	}
	return nil
}

// apiURL accepts an http or https base URL with a host.
func apiURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want a URL such as http://10.0.0.2:8470")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have a query or fragment")
	}
	return nil
}

// metaFormat is the first byte of the gossiped node meta.
const metaFormat byte = 1

// maxMetaBytes is memberlist's limit on node meta.
const maxMetaBytes = 512

// nodeMeta is the gossiped part of a Peer (the id is the memberlist node
// name, the gossip address is memberlist's own). Positional msgpack keeps
// it compact: a typical meta is under 80 bytes.
type nodeMeta struct {
	APIAddr  string
	RaftAddr string
	Region   string
	Voter    bool
}

func encodeMeta(p Peer) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte(metaFormat)
	enc := msgpack.NewEncoder(&b)
	enc.UseArrayEncodedStructs(true)
	if err := enc.Encode(&nodeMeta{APIAddr: p.APIAddr, RaftAddr: p.RaftAddr, Region: p.Region, Voter: p.Voter}); err != nil {
		return nil, err
	}
	if b.Len() > maxMetaBytes {
		return nil, fmt.Errorf("node meta is %d bytes, memberlist allows %d: shorten the addresses or the region", b.Len(), maxMetaBytes)
	}
	return b.Bytes(), nil
}

// decodeMeta decodes gossiped node meta; ok is false for meta this
// version does not understand (another application, a newer format).
func decodeMeta(id, gossipAddr string, b []byte) (Peer, bool) {
	if len(b) < 2 || b[0] != metaFormat || len(b) > maxMetaBytes {
		return Peer{}, false
	}
	var m nodeMeta
	if err := msgpack.Unmarshal(b[1:], &m); err != nil {
		return Peer{}, false
	}
	return Peer{ID: id, RaftAddr: m.RaftAddr, APIAddr: m.APIAddr, GossipAddr: gossipAddr, Region: m.Region, Voter: m.Voter}, true
}
