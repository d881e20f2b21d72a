package cluster

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// sealedLogStore is a raft.LogStore that seals each record's Data (and
// Extensions, when not empty) before the store below it writes them, and
// opens them when it reads. The additional data binds a sealed payload to
// its record's index, term and type. It sits below raft.LogCache, so the
// cache holds plaintext.
//
// mu serialises the writes (StoreLog(s), DeleteRange) with rewrap, which
// reads records and writes them back sealed with a new primary key: a
// record Raft truncates and rewrites is never overwritten by its old
// content, and a record sealed with the old ring is stored before rewrap
// looks at it.
type sealedLogStore struct {
	store  raft.LogStore
	sealer *sealer
	mu     sync.Mutex
}

const (
	aadLogData       = "trustledger raft log data"
	aadLogExtensions = "trustledger raft log extensions"
)

func (s *sealedLogStore) FirstIndex() (uint64, error) { return s.store.FirstIndex() }
func (s *sealedLogStore) LastIndex() (uint64, error)  { return s.store.LastIndex() }

func (s *sealedLogStore) DeleteRange(min, max uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store.DeleteRange(min, max)
}

// GetLog reads the record at index and opens its payloads.
func (s *sealedLogStore) GetLog(index uint64, log *raft.Log) error {
	if err := s.store.GetLog(index, log); err != nil {
		return err
	}
	data, err := s.sealer.open(log.Data, recordAAD(aadLogData, index, log.Term, uint64(log.Type)))
	if err != nil || log.Index != index {
		if err == nil {
			err = fmt.Errorf("stored under index %d", index)
		}
		return fmt.Errorf("raft log record %d: %w", index, err)
	}
	if len(data) == 0 {
		data = nil
	}
	log.Data = data
	if len(log.Extensions) > 0 {
		ext, err := s.sealer.open(log.Extensions, recordAAD(aadLogExtensions, index, log.Term, uint64(log.Type)))
		if err != nil {
			return fmt.Errorf("raft log record %d extensions: %w", index, err)
		}
		log.Extensions = ext
	}
	return nil
}

// StoreLog stores one record, sealed.
func (s *sealedLogStore) StoreLog(log *raft.Log) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store.StoreLog(s.sealed(s.sealer.keys().primary(), log))
}

// StoreLogs stores records, sealed. The records given are not changed
// (the log cache above keeps them).
func (s *sealedLogStore) StoreLogs(logs []*raft.Log) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.sealer.keys().primary()
	out := make([]*raft.Log, len(logs))
	for i, l := range logs {
		out[i] = s.sealed(k, l)
	}
	return s.store.StoreLogs(out)
}

// sealed returns a copy of l with its payloads sealed with k.
func (s *sealedLogStore) sealed(k *atRestKey, l *raft.Log) *raft.Log {
	c := *l
	c.Data = sealWith(k, l.Data, recordAAD(aadLogData, l.Index, l.Term, uint64(l.Type)))
	if len(l.Extensions) > 0 {
		c.Extensions = sealWith(k, l.Extensions, recordAAD(aadLogExtensions, l.Index, l.Term, uint64(l.Type)))
	}
	return &c
}

// rewrapBatch is how many records rewrap reads and writes back at a time
// (one transaction, holding off Raft's writes for its length).
const rewrapBatch = 64

// rewrap seals every record not sealed with ks's primary again with it,
// from the first index to the last, a batch at a time; stop ends it early.
// It returns how many records it rewrote.
func (s *sealedLogStore) rewrap(ks *keySet, stop <-chan struct{}) (uint64, error) {
	first, err := s.store.FirstIndex()
	if err != nil {
		return 0, err
	}
	// Records stored after the pass began are sealed with the primary
	// (the ring changed before it began).
	end, err := s.store.LastIndex()
	if err != nil {
		return 0, err
	}
	var n uint64
	for next := first; next <= end; {
		select {
		case <-stop:
			return n, errRewrapStopped
		default:
		}
		k, done, err := s.rewrapFrom(ks, next, end)
		n += k
		if err != nil || done == 0 {
			return n, err
		}
		next = done + 1
	}
	return n, nil
}

// rewrapFrom rewraps up to rewrapBatch records from index from, up to end;
// it returns how many it rewrote and the last index it looked at (0: none
// left).
func (s *sealedLogStore) rewrapFrom(ks *keySet, from, end uint64) (uint64, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, err := s.store.LastIndex()
	if err != nil || from > min(last, end) {
		return 0, 0, err
	}
	last = min(last, end)
	if first, err := s.store.FirstIndex(); err != nil {
		return 0, 0, err
	} else if from < first {
		from = first // compacted meanwhile
	}
	to := min(last, from+rewrapBatch-1)
	var out []*raft.Log
	for i := from; i <= to; i++ {
		var l raft.Log
		if err := s.store.GetLog(i, &l); errors.Is(err, raft.ErrLogNotFound) {
			continue
		} else if err != nil {
			return 0, 0, fmt.Errorf("raft log record %d: %w", i, err)
		}
		data, changed, err := reseal(ks, l.Data, recordAAD(aadLogData, i, l.Term, uint64(l.Type)))
		if err != nil {
			return 0, 0, fmt.Errorf("raft log record %d: %w", i, err)
		}
		l.Data = data
		if len(l.Extensions) > 0 {
			ext, c, err := reseal(ks, l.Extensions, recordAAD(aadLogExtensions, i, l.Term, uint64(l.Type)))
			if err != nil {
				return 0, 0, fmt.Errorf("raft log record %d extensions: %w", i, err)
			}
			l.Extensions, changed = ext, changed || c
		}
		if changed {
			out = append(out, &l)
		}
	}
	if len(out) > 0 {
		if err := s.store.StoreLogs(out); err != nil {
			return 0, 0, err
		}
	}
	return uint64(len(out)), to, nil
}
