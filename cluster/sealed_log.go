package cluster

import (
	"fmt"

	"github.com/hashicorp/raft"
)

// sealedLogStore is a raft.LogStore that seals each record's Data (and
// Extensions, when not empty) before the store below it writes them, and
// opens them when it reads. The additional data binds a sealed payload to
// its record's index, term and type. It sits below raft.LogCache, so the
// cache holds plaintext.
type sealedLogStore struct {
	store  raft.LogStore
	sealer *sealer
}

const (
	aadLogData       = "trustledger raft log data"
	aadLogExtensions = "trustledger raft log extensions"
)

func (s *sealedLogStore) FirstIndex() (uint64, error) { return s.store.FirstIndex() }
func (s *sealedLogStore) LastIndex() (uint64, error)  { return s.store.LastIndex() }

func (s *sealedLogStore) DeleteRange(min, max uint64) error { return s.store.DeleteRange(min, max) }

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
	return s.store.StoreLog(s.sealed(log))
}

// StoreLogs stores records, sealed. The records given are not changed
// (the log cache above keeps them).
func (s *sealedLogStore) StoreLogs(logs []*raft.Log) error {
	out := make([]*raft.Log, len(logs))
	for i, l := range logs {
		out[i] = s.sealed(l)
	}
	return s.store.StoreLogs(out)
}

// sealed returns a copy of l with its payloads sealed.
func (s *sealedLogStore) sealed(l *raft.Log) *raft.Log {
	c := *l
	c.Data = s.sealer.seal(l.Data, recordAAD(aadLogData, l.Index, l.Term, uint64(l.Type)))
	if len(l.Extensions) > 0 {
		c.Extensions = s.sealer.seal(l.Extensions, recordAAD(aadLogExtensions, l.Index, l.Term, uint64(l.Type)))
	}
	return &c
}
