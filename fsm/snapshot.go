package fsm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"

	"github.com/vmihailenco/msgpack/v5"
)

const snapshotMagic = "TLSNAP\x00\x01"

// Snapshot is a consistent, immutable view of the ledger taken by
// Ledger.Snapshot. Writing it does not block Apply.
type Snapshot struct {
	meta       snapshotMeta
	principals map[string]*principal
	orgs       map[string]*org
	endorse    map[string]*endorsement
	partners   map[string]*partner
	tokens     map[string]*Token
	events     []string
	dedup      [dedupShards]*dedupShard
}

type snapshotMeta struct {
	_msgpack     struct{} `msgpack:",as_array"`
	ModelVersion int
	Index        uint64
	Seq          uint64
	Now          int64
	Digest       []byte
	Policy       Policy
	Counters     Counters
	NextSweep    int64
	Principals   int
	Orgs         int
	Endorsements int
	Partners     int
	Tokens       int
	Events       int
	Dedup        int
}

// Snapshot captures the current state. It holds the write lock only to copy
// map headers and bump the copy-on-write generation: principals and dedup
// shards changed afterwards are cloned by Apply, never mutated in place.
func (l *Ledger) Snapshot() *Snapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &Snapshot{
		meta: snapshotMeta{ModelVersion: ModelVersion, Index: l.index, Seq: l.seq, Now: l.now,
			Digest: append([]byte(nil), l.digest[:]...), Policy: clonePolicy(l.policy), Counters: l.counts, NextSweep: l.nextSweep},
		principals: maps.Clone(l.principals),
		orgs:       maps.Clone(l.orgs),
		endorse:    maps.Clone(l.endorse),
		partners:   maps.Clone(l.partners),
		tokens:     maps.Clone(l.tokens),
		events:     l.events[:len(l.events):len(l.events)],
		dedup:      l.dedup,
	}
	// Endorsements, orgs, partners and tokens are replaced, never changed in
	// place, so cloning the maps is enough.
	l.gen++
	return s
}

// Index returns the Raft index the snapshot was taken at.
func (s *Snapshot) Index() uint64 { return s.meta.Index }

// WriteTo streams the snapshot to w.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return cw.n, err
	}
	enc := msgpack.NewEncoder(bw)
	enc.UseArrayEncodedStructs(true)
	m := s.meta
	m.Principals, m.Orgs, m.Endorsements = len(s.principals), len(s.orgs), len(s.endorse)
	m.Partners, m.Tokens, m.Events = len(s.partners), len(s.tokens), len(s.events)
	nowS := dedupSeconds(m.Now)
	for _, sh := range s.dedup {
		for _, exp := range sh.m {
			if exp > nowS {
				m.Dedup++
			}
		}
	}
	if err := enc.Encode(&m); err != nil {
		return cw.n, err
	}
	for _, p := range s.principals {
		if err := enc.Encode(p); err != nil {
			return cw.n, fmt.Errorf("snapshot principal %s: %w", p.ID, err)
		}
	}
	for _, o := range s.orgs {
		if err := enc.Encode(o); err != nil {
			return cw.n, err
		}
	}
	for _, e := range s.endorse {
		if err := enc.Encode(e); err != nil {
			return cw.n, err
		}
	}
	for _, p := range s.partners {
		if err := enc.Encode(p); err != nil {
			return cw.n, err
		}
	}
	for _, t := range s.tokens {
		if err := enc.Encode(t); err != nil {
			return cw.n, err
		}
	}
	for _, e := range s.events {
		if err := enc.EncodeString(e); err != nil {
			return cw.n, err
		}
	}
	var buf [dedupRecord]byte
	for _, sh := range s.dedup {
		for k, exp := range sh.m {
			if exp <= nowS {
				continue
			}
			copy(buf[:len(k)], k[:])
			putUint32(buf[len(k):], exp)
			if _, err := bw.Write(buf[:]); err != nil {
				return cw.n, err
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

// Release drops the snapshot's references.
func (s *Snapshot) Release() { *s = Snapshot{} }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// dedupRecord is one dedup entry in a snapshot: key, then expiry.
const dedupRecord = len(dedupKey{}) + 4

func putUint32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

func getUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Restore replaces the ledger's state with a snapshot read from r. On error
// the ledger is left unchanged.
func (l *Ledger) Restore(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return errors.New("restore: not a trustledger snapshot")
	}
	dec := msgpack.NewDecoder(br)
	var m snapshotMeta
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("restore: header: %w", err)
	}
	if m.ModelVersion != ModelVersion {
		return fmt.Errorf("restore: snapshot of scoring model %d, this build runs model %d", m.ModelVersion, ModelVersion)
	}
	n := NewLedger()
	n.index, n.seq, n.now, n.policy, n.counts, n.nextSweep = m.Index, m.Seq, m.Now, m.Policy, m.Counters, m.NextSweep
	copy(n.digest[:], m.Digest)
	// Counts come from the stream: never pre-size beyond a sane bound.
	n.principals = make(map[string]*principal, min(max(m.Principals, 0), 1<<16))
	for i := 0; i < m.Principals; i++ {
		p := &principal{}
		if err := dec.Decode(p); err != nil {
			return fmt.Errorf("restore: principal %d: %w", i, err)
		}
		if p.Cold == nil || p.isZero() {
			p.Cold = emptyCold
		}
		n.principals[p.ID] = p
		for _, a := range p.Alerts {
			n.alertIdx[a.ID] = p.ID
		}
	}
	for i := 0; i < m.Orgs; i++ {
		o := &org{}
		if err := dec.Decode(o); err != nil {
			return fmt.Errorf("restore: org: %w", err)
		}
		n.orgs[o.ID] = o
	}
	for i := 0; i < m.Endorsements; i++ {
		e := &endorsement{}
		if err := dec.Decode(e); err != nil {
			return fmt.Errorf("restore: endorsement: %w", err)
		}
		n.endorse[e.ID] = e
	}
	for i := 0; i < m.Partners; i++ {
		p := &partner{}
		if err := dec.Decode(p); err != nil {
			return fmt.Errorf("restore: partner: %w", err)
		}
		n.partners[p.ID] = p
	}
	for i := 0; i < m.Tokens; i++ {
		t := &Token{}
		if err := dec.Decode(t); err != nil {
			return fmt.Errorf("restore: token: %w", err)
		}
		n.tokens[t.ID] = t
		var h [32]byte
		copy(h[:], t.Hash)
		n.tokenHash[h] = t.ID
	}
	n.events = make([]string, 0, min(max(m.Events, 0), 1<<16))
	for i := 0; i < m.Events; i++ {
		s, err := dec.DecodeString()
		if err != nil {
			return fmt.Errorf("restore: event names: %w", err)
		}
		n.eventIdx[s] = uint32(len(n.events))
		n.events = append(n.events, s)
	}
	var buf [dedupRecord]byte
	for i := 0; i < m.Dedup; i++ {
		if _, err := io.ReadFull(br, buf[:]); err != nil {
			return fmt.Errorf("restore: dedup index: %w", err)
		}
		var k dedupKey
		copy(k[:], buf[:len(k)])
		n.dedup[k[0]].m[k] = getUint32(buf[len(k):])
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n.gen = l.gen + 1
	for _, p := range n.principals {
		p.gen = n.gen
	}
	for _, sh := range n.dedup {
		sh.gen = n.gen
	}
	l.gen = n.gen
	l.index, l.seq, l.now, l.digest, l.policy, l.counts, l.nextSweep = n.index, n.seq, n.now, n.digest, n.policy, n.counts, n.nextSweep
	l.principals, l.orgs, l.endorse, l.partners, l.tokens, l.tokenHash = n.principals, n.orgs, n.endorse, n.partners, n.tokens, n.tokenHash
	l.alertIdx, l.events, l.eventIdx, l.dedup = n.alertIdx, n.events, n.eventIdx, n.dedup
	return nil
}
