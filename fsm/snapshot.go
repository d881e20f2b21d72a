package fsm

import (
	"bufio"
	"bytes"
	"encoding/binary"
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
	principals principalTable
	orgs       map[string]*org
	endorse    map[string]*endorsement
	partners   map[string]*partner
	tokens     map[string]*Token
	events     []string
	producers  map[string]producerState
	dedup      [dedupShards]*dedupShard
	streams    map[string]*stream
	outbox     []outEvent
	nodeKeys   map[string]*nodeKeys
	told       toldTable
}

type snapshotMeta struct {
	ModelVersion int
	Index        uint64
	Seq          uint64
	Now          int64
	Digest       []byte
	Policy       Policy
	Counters     Counters
	NextSweep    int64
	// Tree is the compact range of the ledger's Merkle tree (tree.go).
	Tree         [][]byte
	Principals   int
	Orgs         int
	Endorsements int
	Partners     int
	Tokens       int
	Events       int
	Dedup        int
	// Producers counts the producer records (after the event names);
	// NextProducerSweep is when idle producers are next dropped.
	Producers         int
	NextProducerSweep int64
	ProducerHorizon   int64
	// The SSF transmitter (transmit.go): the records of streams, outbox
	// events and node keys that follow the producers, the outbox's last
	// sequence and the transmitter's epoch.
	Streams  int
	Outbox   int
	NodeKeys int
	OutSeq   uint64
	Told     int
}

// Snapshot captures the current state. It holds the write lock only to copy
// the principal table's shard pointers and the small maps and bump the
// copy-on-write generation: principal shards, principals and dedup shards
// changed afterwards are cloned by Apply, never mutated in place.
func (l *Ledger) Snapshot() *Snapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &Snapshot{
		meta: snapshotMeta{ModelVersion: ModelVersion, Index: l.index, Seq: l.seq, Now: l.now,
			Digest: append([]byte(nil), l.digest[:]...), Policy: clonePolicy(l.policy), Counters: l.counts, NextSweep: l.nextSweep,
			Tree: l.treeHashes(), NextProducerSweep: l.nextProducerSweep, ProducerHorizon: l.producerHorizon,
			OutSeq: l.tx.outSeq},
		principals: l.principals,
		orgs:       maps.Clone(l.orgs),
		endorse:    maps.Clone(l.endorse),
		partners:   maps.Clone(l.partners),
		tokens:     maps.Clone(l.tokens),
		events:     l.events[:len(l.events):len(l.events)],
		producers:  maps.Clone(l.producers),
		dedup:      l.dedup,
		streams:    maps.Clone(l.tx.streams),
		outbox:     l.tx.outbox[:len(l.tx.outbox):len(l.tx.outbox)],
		nodeKeys:   maps.Clone(l.tx.keys),
		told:       l.tx.told,
	}
	// Endorsements, orgs, partners, tokens, streams and node keys are
	// replaced, never changed in place, so cloning the maps is enough;
	// outbox events are never changed once appended.
	l.gen++
	return s
}

// Index returns the Raft index the snapshot was taken at.
func (s *Snapshot) Index() uint64 { return s.meta.Index }

// WriteTo streams the snapshot to w: a magic string, then length-prefixed
// msgpack records (header, principals, orgs, endorsements, partners, tokens,
// event names), then the dedup index as fixed-size records.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	err := s.write(newSnapshotWriter(cw))
	return cw.n, err
}

func (s *Snapshot) write(sw *snapshotWriter) error {
	if _, err := sw.bw.WriteString(snapshotMagic); err != nil {
		return err
	}
	m := s.header()
	if err := sw.put(&m); err != nil {
		return err
	}
	if err := s.writeRecords(sw); err != nil {
		return err
	}
	if err := s.writeDedup(sw.bw, dedupSeconds(m.Now)); err != nil {
		return err
	}
	return sw.bw.Flush()
}

// header returns the snapshot's header record: its metadata and the number
// of records of each kind that follow.
func (s *Snapshot) header() snapshotMeta {
	m := s.meta
	m.Principals, m.Orgs, m.Endorsements = s.principals.len(), len(s.orgs), len(s.endorse)
	m.Partners, m.Tokens, m.Events, m.Producers = len(s.partners), len(s.tokens), len(s.events), len(s.producers)
	m.Streams, m.Outbox, m.NodeKeys, m.Told = len(s.streams), len(s.outbox), len(s.nodeKeys), s.told.n
	nowS := dedupSeconds(m.Now)
	for _, sh := range s.dedup {
		for _, exp := range sh.m {
			if exp > nowS {
				m.Dedup++
			}
		}
	}
	return m
}

// writeRecords writes the msgpack records that follow the header.
func (s *Snapshot) writeRecords(sw *snapshotWriter) error {
	var err error
	s.principals.each(func(p *principal) {
		if err == nil {
			if e := sw.put(p); e != nil {
				err = fmt.Errorf("snapshot principal %s: %w", p.ID, e)
			}
		}
	})
	if err != nil {
		return err
	}
	if err := putEach(sw, s.orgs); err != nil {
		return err
	}
	if err := putEach(sw, s.endorse); err != nil {
		return err
	}
	if err := putEach(sw, s.partners); err != nil {
		return err
	}
	if err := putEach(sw, s.tokens); err != nil {
		return err
	}
	for _, e := range s.events {
		if err := sw.put(e); err != nil {
			return err
		}
	}
	for _, p := range s.producers {
		if err := sw.put(&p); err != nil {
			return err
		}
	}
	if err := putEach(sw, s.streams); err != nil {
		return err
	}
	for i := range s.outbox {
		if err := sw.put(&s.outbox[i]); err != nil {
			return err
		}
	}
	if err := putEach(sw, s.nodeKeys); err != nil {
		return err
	}
	var err2 error
	s.told.each(func(st toldState) {
		if err2 == nil {
			err2 = sw.put(&st)
		}
	})
	return err2
}

// writeDedup writes the dedup entries that expire after nowS as fixed-size
// records.
func (s *Snapshot) writeDedup(bw *bufio.Writer, nowS uint32) error {
	var buf [dedupRecord]byte
	for _, sh := range s.dedup {
		for k, exp := range sh.m {
			if exp <= nowS {
				continue
			}
			copy(buf[:len(k)], k[:])
			putUint32(buf[len(k):], exp)
			if _, err := bw.Write(buf[:]); err != nil {
				return err
			}
		}
	}
	return nil
}

// snapshotWriter writes the length-prefixed msgpack records of a snapshot.
type snapshotWriter struct {
	bw  *bufio.Writer
	rec bytes.Buffer
	enc *msgpack.Encoder
}

func newSnapshotWriter(w io.Writer) *snapshotWriter {
	sw := &snapshotWriter{bw: bufio.NewWriterSize(w, 1<<20)}
	sw.enc = msgpack.NewEncoder(&sw.rec)
	sw.enc.UseArrayEncodedStructs(true)
	sw.enc.UseCompactInts(true)
	return sw
}

// put writes v as one record: its length as a uvarint, then its msgpack.
func (sw *snapshotWriter) put(v any) error {
	sw.rec.Reset()
	if err := sw.enc.Encode(v); err != nil {
		return err
	}
	var hdr [binary.MaxVarintLen64]byte
	if _, err := sw.bw.Write(hdr[:binary.PutUvarint(hdr[:], uint64(sw.rec.Len()))]); err != nil { // #nosec G115 -- a length is non-negative
		return err
	}
	_, err := sw.bw.Write(sw.rec.Bytes())
	return err
}

// putEach writes one record for each value of m.
func putEach[V any](sw *snapshotWriter, m map[string]V) error {
	for _, v := range m {
		if err := sw.put(v); err != nil {
			return err
		}
	}
	return nil
}

// maxSnapshotRecord bounds one record of a snapshot stream.
const maxSnapshotRecord = 64 << 20

// snapshotReader reads the length-prefixed records of a snapshot, checking
// each before the msgpack decoder sees it.
type snapshotReader struct {
	br  *bufio.Reader
	buf []byte
}

func (r *snapshotReader) next(v any) error {
	n, err := binary.ReadUvarint(r.br)
	if err != nil {
		return err
	}
	if n == 0 || n > maxSnapshotRecord {
		return fmt.Errorf("record of %d bytes", n)
	}
	if uint64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := io.ReadFull(r.br, b); err != nil {
		return err
	}
	if err := checkMsgpack(b); err != nil {
		return err
	}
	return msgpack.Unmarshal(b, v)
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
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v) // #nosec G115 -- deliberate truncation to bytes
}

func getUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Restore replaces the ledger's state with a snapshot read from r. On error
// the ledger is left unchanged.
func (l *Ledger) Restore(r io.Reader) error {
	dec, m, err := openSnapshot(r)
	if err != nil {
		return err
	}
	n := NewLedger()
	n.index, n.seq, n.now, n.policy, n.counts, n.nextSweep = m.Index, m.Seq, m.Now, m.Policy, m.Counters, m.NextSweep
	if n.policy.Version == 0 {
		// Version 0 is the built-in default, which a ledger replayed from
		// its first entry starts with: this binary's, whatever the binary
		// that wrote the snapshot had built in.
		n.policy = DefaultPolicy()
	}
	copy(n.digest[:], m.Digest)
	if n.tree, err = restoreTree(m.Seq, m.Tree); err != nil {
		return err
	}
	if err := n.readRecords(dec, &m); err != nil {
		return err
	}
	if err := n.readDedup(dec.br, m.Dedup); err != nil {
		return err
	}
	l.install(n)
	return nil
}

// openSnapshot checks the magic string and reads the header of the snapshot
// in r.
func openSnapshot(r io.Reader) (*snapshotReader, snapshotMeta, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return nil, snapshotMeta{}, errors.New("restore: not a trustledger snapshot")
	}
	dec := &snapshotReader{br: br}
	var m snapshotMeta
	if err := dec.next(&m); err != nil {
		return nil, m, fmt.Errorf("restore: header: %w", err)
	}
	if m.ModelVersion != ModelVersion {
		return nil, m, &ModelMismatchError{Model: m.ModelVersion, Index: m.Index, Sequence: m.Seq, Digest: append([]byte(nil), m.Digest...)}
	}
	return dec, m, nil
}

// readRecords reads into the fresh ledger n the msgpack records the header m
// announces.
func (n *Ledger) readRecords(dec *snapshotReader, m *snapshotMeta) error {
	// Counts come from the stream: never pre-size beyond a sane bound.
	n.principals = newPrincipalTable()
	for i := 0; i < m.Principals; i++ {
		p := &principal{}
		if err := dec.next(p); err != nil {
			return fmt.Errorf("restore: principal %d: %w", i, err)
		}
		if p.Cold == nil || p.isZero() {
			p.Cold = emptyCold
		}
		if n.principals.get(p.ID) != nil {
			return fmt.Errorf("restore: principal %s twice", p.ID)
		}
		n.principals.set(n.gen, p)
		for _, a := range p.Alerts {
			n.alertIdx[a.ID] = p.ID
		}
	}
	if err := readEach(dec, m.Orgs, "org", func(o *org) { n.orgs[o.ID] = o }); err != nil {
		return err
	}
	if err := readEach(dec, m.Endorsements, "endorsement", func(e *endorsement) { n.endorse[e.ID] = e }); err != nil {
		return err
	}
	if err := readEach(dec, m.Partners, "partner", func(p *partner) { n.partners[p.ID] = p }); err != nil {
		return err
	}
	if err := readEach(dec, m.Tokens, "token", n.addToken); err != nil {
		return err
	}
	n.events = make([]string, 0, min(max(m.Events, 0), 1<<16))
	if err := readEach(dec, m.Events, "event names", func(s *string) {
		n.eventIdx[*s] = uint32(len(n.events)) // #nosec G115 -- restored tables are bounded by maxEventNames records written
		n.events = append(n.events, *s)
	}); err != nil {
		return err
	}
	n.nextProducerSweep, n.producerHorizon = m.NextProducerSweep, m.ProducerHorizon
	if err := readEach(dec, m.Producers, "producers", func(p *producerState) { n.producers[p.ID] = *p }); err != nil {
		return err
	}
	n.countProducerTokens()
	if err := readEach(dec, m.Streams, "stream", func(st *stream) { n.tx.streams[st.ID] = st }); err != nil {
		return err
	}
	n.tx.outbox = make([]outEvent, 0, min(max(m.Outbox, 0), MaxOutbox))
	if err := readEach(dec, m.Outbox, "outbox event", func(e *outEvent) { n.tx.outbox = append(n.tx.outbox, *e) }); err != nil {
		return err
	}
	n.tx.outSeq = m.OutSeq
	n.tx.recount()
	if err := readEach(dec, m.NodeKeys, "node keys", func(k *nodeKeys) { n.tx.keys[k.NodeID] = k }); err != nil {
		return err
	}
	return readEach(dec, m.Told, "told states", func(st *toldState) { n.tx.told.set(n.gen, *st) })
}

// addToken adds a restored token to the token tables.
func (n *Ledger) addToken(t *Token) {
	n.tokens[t.ID] = t
	var h [32]byte
	copy(h[:], t.Hash)
	n.tokenHash[h] = t.ID
}

// readEach reads count records of type T, handing each to add; what names
// the records in the error.
func readEach[T any](dec *snapshotReader, count int, what string, add func(*T)) error {
	for i := 0; i < count; i++ {
		v := new(T)
		if err := dec.next(v); err != nil {
			return fmt.Errorf("restore: %s: %w", what, err)
		}
		add(v)
	}
	return nil
}

// readDedup reads count fixed-size dedup records into the fresh ledger n.
func (n *Ledger) readDedup(br *bufio.Reader, count int) error {
	var buf [dedupRecord]byte
	for i := 0; i < count; i++ {
		if _, err := io.ReadFull(br, buf[:]); err != nil {
			return fmt.Errorf("restore: dedup index: %w", err)
		}
		var k dedupKey
		copy(k[:], buf[:len(k)])
		n.dedup[dedupShardOf(k)].m[k] = getUint32(buf[len(k):])
	}
	return nil
}

// install replaces l's state with the restored ledger n's, under a new
// copy-on-write generation.
func (l *Ledger) install(n *Ledger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n.gen = l.gen + 1
	n.principals.setGen(n.gen)
	for _, sh := range n.dedup {
		sh.gen = n.gen
	}
	l.gen = n.gen
	l.index, l.seq, l.now, l.digest, l.policy, l.counts, l.nextSweep = n.index, n.seq, n.now, n.digest, n.policy, n.counts, n.nextSweep
	l.sweepAt = 0
	l.producers, l.nextProducerSweep, l.producerHorizon, l.producerTokens = n.producers, n.nextProducerSweep, n.producerHorizon, n.producerTokens
	l.tree = n.tree
	n.tx.told.setGen(n.gen)
	l.tx = n.tx
	l.principals, l.orgs, l.endorse, l.partners, l.tokens, l.tokenHash = n.principals, n.orgs, n.endorse, n.partners, n.tokens, n.tokenHash
	l.alertIdx, l.events, l.eventIdx, l.dedup = n.alertIdx, n.events, n.eventIdx, n.dedup
}

// ModelMismatchError is Restore's refusal of a snapshot another scoring
// model wrote: its state is that model's derivation of the ledger, not this
// one's. The ledger's entries are the same under every model, so the state
// can be rebuilt by replaying them (Rebuild); the error carries what the
// replay must reach.
type ModelMismatchError struct {
	Model    int    // the snapshot's model
	Index    uint64 // the Raft index of its last entry
	Sequence uint64 // its ledger sequence
	Digest   []byte // its chain digest
}

func (e *ModelMismatchError) Error() string {
	return fmt.Sprintf("restore: snapshot of scoring model %d, this build runs model %d", e.Model, ModelVersion)
}

// ReplayedEntry is one ledger entry for Rebuild: its Raft index and bytes.
type ReplayedEntry struct {
	Index uint64
	Data  []byte
}

// Rebuild derives the state a snapshot of another model stands for by
// replaying the ledger's entries from the first, in order, through this
// model, and installs it. next returns the entries after a sequence (an
// empty slice at the end). The replay must reach the snapshot's sequence
// with its chain digest — the chain folds in each entry and whether it was
// accepted, which models keep the same — else the ledger is left unchanged
// and the error says where the entries ran out or disagreed.
func (l *Ledger) Rebuild(want *ModelMismatchError, next func(after uint64) ([]ReplayedEntry, error)) error {
	n := NewLedger()
	for n.seq < want.Sequence {
		batch, err := next(n.seq)
		if err != nil {
			return fmt.Errorf("rebuild: read entries after sequence %d: %w", n.seq, err)
		}
		if len(batch) == 0 {
			return fmt.Errorf("rebuild: the entries end at sequence %d, the snapshot is at %d", n.seq, want.Sequence)
		}
		for _, e := range batch {
			if n.seq == want.Sequence {
				break
			}
			n.Apply(e.Index, e.Data)
		}
	}
	if !bytes.Equal(n.digest[:], want.Digest) {
		return fmt.Errorf("rebuild: replaying %d entries gives chain digest %x, the snapshot has %x", n.seq, n.digest[:], want.Digest)
	}
	n.index = want.Index
	l.install(n)
	return nil
}
