package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/trustledger/trustledger/fsm"
	"github.com/vmihailenco/msgpack/v5"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// The ledger archive keeps every applied ledger entry for ever, after Raft
// has compacted its log behind a snapshot ("the ledger keeps everything").
//
// Layout of <data>/ledger.db:
//
//	entries:    big-endian sequence → recordFormat byte + msgpack archiveRecord,
//	            or, with an encryption key, that sealed (see atrest.go) with
//	            the sequence in the additional data
//	principals: principal id + 0x00 + big-endian sequence → empty; the
//	            applied entries every record depends on (fsm.Kind.Global)
//	            are indexed under the empty id ("" + 0x00 + sequence)
//	meta:       "indexed" → big-endian sequence the principal index is complete to;
//	            "global" → present once entries written before the empty-id
//	            index existed have been indexed under it
//
// Principal ids never contain 0x00 (fsm.ValidID), so the separator keeps one
// id's keys from running into another's that it prefixes.
//
// Durability. The FSM goroutine only appends applied entries to an in-memory
// buffer; a background goroutine (the flusher) writes whatever has
// accumulated, at most every flushInterval, to the entries bucket in one
// bbolt transaction that is fsynced on commit. Many entries share one commit
// and one fsync (group commit), and Apply never waits for the disk. An entry
// still buffered when the process dies is not lost: it is still in the Raft
// log, because Raft deletes log entries only behind a snapshot, and
// ledgerSnapshot.Persist first waits until the archive is durable up to the
// snapshot's sequence (failing the snapshot, so the log is kept, if it cannot
// be). On restart Raft restores that snapshot and re-applies every later log
// entry; the FSM is deterministic, so each re-applied entry gets the same
// sequence and the same bytes, and putting it again is idempotent.
//
// The principal index is derived data: every stored record carries its
// subjects. Its keys scatter over the B+tree, so writing them with each small
// entry batch would rewrite a page per key; instead they are kept in memory
// (indexTail) and merged in large sorted batches (see mergeIndex), with
// "indexed" recording how far the merged index reaches. On open, the tail
// beyond "indexed" is rebuilt from the entries bucket.
//
// If a write fails the archive stops accepting entries and reports the error
// from every read and from Persist (so no snapshot truncates the log); a
// restart rebuilds the missing tail from the Raft log.
//
// A node that installs a snapshot from the leader (a new or far-behind
// follower) or restores a backup skips the entries the snapshot covers, so
// its archive has a gap, logged at Restore and copied from a peer by
// backfill.go, each chunk proven against the ledger's tree.

var (
	bucketEntries    = []byte("entries")
	bucketPrincipals = []byte("principals")
	bucketMeta       = []byte("meta")
	keyIndexed       = []byte("indexed")
	keyGlobal        = []byte("global")
)

// globalSubject is the index id of the entries every record depends on.
const globalSubject = ""

// recordFormat is the first byte of every stored archiveRecord: 2 since
// records carry the alerts their entry raised; records of format 1 (without
// them) are still read.
const (
	recordFormat   byte = 2
	recordFormatV1 byte = 1
)

// maxPendingBytes bounds the buffer between Apply and the flusher. When the
// disk falls this far behind, Apply waits for the flusher (back-pressure on
// Raft) rather than let memory grow without bound.
const maxPendingBytes = 64 << 20

// archiveRecord is one applied entry with its result, as stored.
// It is encoded positionally (msgpack array), like the ledger's own entries.
type archiveRecord struct {
	Index    uint64 // Raft index
	Time     int64  // ledger time after the entry, Unix ms
	Kind     uint8  // fsm.Kind; 0 when the envelope did not decode
	Rejected bool
	Error    string
	Subjects []string
	// Data is the raw entry as it went through Raft. The actor (the id of
	// the token that wrote it) and the command are decoded from it when
	// the entry is read, not stored twice.
	Data []byte
	// Alerts are the alerts the entry raised (id and principal).
	Alerts []fsm.RaisedAlert
}

// archiveRecordV1 is an archiveRecord of format 1.
type archiveRecordV1 struct {
	Index    uint64
	Time     int64
	Kind     uint8
	Rejected bool
	Error    string
	Subjects []string
	Data     []byte
}

// indexIDs are the ids r is indexed under: its subjects and, for an
// applied entry every record depends on, globalSubject.
func (r *archiveRecord) indexIDs() []string {
	if r.Rejected || !fsm.Kind(r.Kind).Global() {
		return r.Subjects
	}
	return append(append(make([]string, 0, len(r.Subjects)+1), r.Subjects...), globalSubject)
}

// archived is an entry on its way to the archive.
type archived struct {
	seq uint64
	rec archiveRecord
}

func (e *archived) size() int {
	n := len(e.rec.Data) + len(e.rec.Error) + 96
	for _, s := range e.rec.Subjects {
		n += len(s) + 16
	}
	return n
}

// archive is the durable, append-only store of applied entries.
type archive struct {
	db  *bbolt.DB
	log *slog.Logger
	// sealer, when set, seals every stored record (Config.EncryptionKey).
	sealer *sealer
	hub    *hub

	mu   sync.Mutex
	cond *sync.Cond // broadcast when durable, pending, err or closed change
	// pending is waiting for the flusher; inflight is being written.
	pending      []archived
	pendingBytes int
	inflight     []archived
	appended     uint64 // last sequence handed to append (or restored)
	// durable: every sequence ≤ durable this archive will ever hold is in
	// the entries bucket on disk.
	durable uint64
	// tail indexes the durable entries in (indexed, tailThrough] that the
	// on-disk principal index does not cover yet; merging is the part of
	// it being written by mergeIndex.
	tail, merging indexTail
	mergeMu       sync.Mutex // serialises mergeIndex
	indexed       uint64
	tailThrough   uint64
	err           error // set when a write failed; the archive is then read-only
	closed        bool

	// tree is the archive's copy of the ledger's Merkle tree
	// (archive_tree.go), changed by the flusher and resetTree under treeMu;
	// head is its size and root as of the last commit, under mu.
	treeMu sync.Mutex
	tree   archiveTree
	// gapFrom..gapTo are the entries an installed snapshot covered that
	// the archive lacks (backfill.go); backfillMu serialises backfills.
	gapFrom, gapTo uint64
	backfillMu     sync.Mutex
	head           fsm.TreeHead
	headOK         bool

	closeOnce sync.Once
	closeErr  error
	kick      chan struct{}
	stop      chan struct{}
	done      chan struct{}
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func principalKey(id string, seq uint64) []byte {
	k := make([]byte, 0, len(id)+9)
	k = append(k, id...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func encodeRecord(r *archiveRecord) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte(recordFormat)
	enc := msgpack.NewEncoder(&b)
	enc.UseArrayEncodedStructs(true)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func decodeRecord(v []byte) (archiveRecord, error) {
	var r archiveRecord
	switch {
	case len(v) < 2:
	case v[0] == recordFormat:
		err := msgpack.Unmarshal(v[1:], &r)
		return r, err
	case v[0] == recordFormatV1:
		var o archiveRecordV1
		err := msgpack.Unmarshal(v[1:], &o)
		return archiveRecord{Index: o.Index, Time: o.Time, Kind: o.Kind, Rejected: o.Rejected, Error: o.Error,
			Subjects: o.Subjects, Data: o.Data}, err
	}
	return r, errors.New("unknown archive record format")
}

// aadArchive labels the additional data of a sealed archive record.
const aadArchive = "trustledger ledger archive record"

// encodeRecord encodes the record stored at seq, sealed when the archive
// has a key.
func (a *archive) encodeRecord(seq uint64, r *archiveRecord) ([]byte, error) {
	v, err := encodeRecord(r)
	if err != nil || a.sealer == nil {
		return v, err
	}
	return a.sealer.seal(v, recordAAD(aadArchive, seq)), nil
}

// decodeRecord decodes the record stored at seq, opening it when the
// archive has a key.
func (a *archive) decodeRecord(seq uint64, v []byte) (archiveRecord, error) {
	if a.sealer != nil {
		plain, err := a.sealer.open(v, recordAAD(aadArchive, seq))
		if err != nil {
			return archiveRecord{}, err
		}
		v = plain
	} else if len(v) > 0 && (v[0] == sealedFormat || v[0] == sealedFormatV1) {
		return archiveRecord{}, errors.New("the record is sealed and the node has no encryption key")
	}
	return decodeRecord(v)
}

// openArchive opens (creating if needed) the archive at path and starts its
// flusher. The caller owns it and must Close it.
func openArchive(path string, s *sealer, log *slog.Logger) (*archive, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open ledger archive %s: locked by another process (is another trustd using this data directory?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open ledger archive %s: %w", path, err)
	}
	a := &archive{db: db, log: log, sealer: s, hub: newHub(), kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	a.cond = sync.NewCond(&a.mu)
	if err := db.Update(a.load); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("load ledger archive %s: %w", path, err)
	}
	a.treeMu.Lock()
	a.setHead()
	a.treeMu.Unlock()
	go a.run()
	return a, nil
}

// load creates the buckets and reads the archive's position: the last stored
// sequence, and the index tail beyond the merged principal index.
func (a *archive) load(tx *bbolt.Tx) error {
	for _, b := range [][]byte{bucketEntries, bucketPrincipals, bucketMeta, bucketTree} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	if v := tx.Bucket(bucketMeta).Get(keyIndexed); len(v) == 8 {
		a.indexed = binary.BigEndian.Uint64(v)
	}
	a.tailThrough = a.indexed
	c := tx.Bucket(bucketEntries).Cursor()
	if k, _ := c.Last(); k != nil {
		a.durable = binary.BigEndian.Uint64(k)
	}
	for k, v := c.Seek(seqKey(a.indexed + 1)); k != nil; k, v = c.Next() {
		seq := binary.BigEndian.Uint64(k)
		r, err := a.decodeRecord(seq, v)
		if err != nil {
			return fmt.Errorf("sequence %d: %w", seq, err)
		}
		a.tail.add(seq, r.indexIDs())
		a.tailThrough = seq
	}
	if err := a.indexGlobal(tx); err != nil {
		return err
	}
	a.gapFrom, a.gapTo = findGap(tx)
	return a.loadTree(tx)
}

// append buffers one applied entry. It is called from the FSM goroutine, in
// sequence order, and waits only when the flusher is maxPendingBytes behind.
func (a *archive) append(res *fsm.Result, data []byte) {
	e := archived{seq: res.Sequence, rec: archiveRecord{Index: res.Index, Time: res.Time, Kind: uint8(res.Kind),
		Rejected: res.Err != nil, Subjects: res.Subjects, Data: append([]byte(nil), data...), Alerts: res.Alerts}}
	if res.Err != nil {
		e.rec.Error = res.Err.Error()
	}
	a.mu.Lock()
	a.appended = e.seq
	for a.pendingBytes >= maxPendingBytes && a.err == nil && !a.closed {
		a.kickFlusher()
		a.cond.Wait()
	}
	if a.err != nil || a.closed {
		// Not archived now; the entry stays in the Raft log (Persist fails
		// while durable lags) and is archived again after a restart.
		a.mu.Unlock()
		return
	}
	a.pending = append(a.pending, e)
	a.pendingBytes += e.size()
	a.mu.Unlock()
	a.kickFlusher()
}

func (a *archive) kickFlusher() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// appendedSeq returns the last sequence handed to append or restored.
func (a *archive) appendedSeq() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.appended
}

// restored tells the archive that the FSM was replaced by a snapshot at
// sequence seq. Entries buffered before are flushed first. When the archive
// does not reach seq, the entries in between are missing (see the package
// comment) and the gap is logged.
func (a *archive) restored(seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	_ = a.waitLocked(a.appended) // a failure is reported by reads and Persist
	switch {
	case a.durable < seq:
		a.log.Warn("ledger archive lacks entries covered by an installed snapshot; copying them from a peer",
			"from_sequence", a.durable+1, "to_sequence", seq)
		if a.gapFrom == 0 {
			a.gapFrom = a.durable + 1
		}
		a.gapTo = seq
		a.durable = seq
	case a.durable > seq:
		// The state went back (a restore of an older snapshot): the next
		// entries reuse sequences the archive holds, and must be made
		// durable again before a snapshot lets Raft drop them.
		a.log.Warn("ledger archive: state restored behind the archive; later entries will overwrite it",
			"archive_sequence", a.durable, "restored_sequence", seq)
		a.durable = seq
	}
	a.appended = seq
}

// waitDurable blocks until every entry up to seq is on disk, or fails when
// the archive cannot get there.
func (a *archive) waitDurable(seq uint64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.waitLocked(seq)
}

func (a *archive) waitLocked(seq uint64) error {
	for a.durable < seq {
		if a.err != nil {
			return a.err
		}
		if a.closed {
			return ErrClosed
		}
		a.kickFlusher()
		a.cond.Wait()
	}
	return nil
}

func (a *archive) failure() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Close flushes what is buffered, merges the principal index, stops the
// flusher, ends every subscription and closes the file. Call it after Raft
// has stopped applying.
func (a *archive) Close() error {
	a.closeOnce.Do(func() {
		close(a.stop)
		<-a.done
		a.mu.Lock()
		a.closed = true
		a.cond.Broadcast()
		a.mu.Unlock()
		a.hub.closeAll()
		if err := a.db.Close(); err != nil {
			a.closeErr = fmt.Errorf("close ledger archive: %w", err)
		}
	})
	return a.closeErr
}
