package fsm

import "maps"

// The principal table: principals by id in copy-on-write shards, so that a
// snapshot (or a simulation's scratch copy) costs a copy of the shard
// pointers, not of every principal, and the first change to a shard after
// it clones that shard alone — a few hundred entries at a million
// principals.

// principalShards is the number of shards of the principal table.
const principalShards = 1024

type principalShard struct {
	gen uint64
	m   map[string]*principal
}

// principalTable is a value: copying it copies the shard pointers.
type principalTable struct {
	shards [principalShards]*principalShard
	n      int
}

func newPrincipalTable() principalTable {
	var t principalTable
	for i := range t.shards {
		t.shards[i] = &principalShard{m: map[string]*principal{}}
	}
	return t
}

// shardOf is the shard of id: FNV-1a, a function of the id alone.
func shardOf(id string) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h & (principalShards - 1))
}

func (t *principalTable) get(id string) *principal { return t.shards[shardOf(id)].m[id] }

// set stores p under its id in a ledger at generation gen, cloning the
// shard first when an older generation (a snapshot) holds it.
func (t *principalTable) set(gen uint64, p *principal) {
	i := shardOf(p.ID)
	s := t.shards[i]
	if s.gen != gen {
		s = &principalShard{gen: gen, m: maps.Clone(s.m)}
		t.shards[i] = s
	}
	if _, ok := s.m[p.ID]; !ok {
		t.n++
	}
	s.m[p.ID] = p
}

func (t *principalTable) len() int { return t.n }

// each calls fn for every principal, in no particular order.
func (t *principalTable) each(fn func(*principal)) {
	for _, s := range t.shards {
		for _, p := range s.m {
			fn(p)
		}
	}
}

// ids returns every principal id, in no particular order.
func (t *principalTable) ids() []string {
	out := make([]string, 0, t.n)
	t.each(func(p *principal) { out = append(out, p.ID) })
	return out
}

// setGen marks every shard and principal as of generation gen (a restored
// ledger's).
func (t *principalTable) setGen(gen uint64) {
	for _, s := range t.shards {
		s.gen = gen
		for _, p := range s.m {
			p.gen = gen
		}
	}
}
