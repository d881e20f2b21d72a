package cluster

// CommitIndex returns the latest Raft index this node knows to be
// committed. The ledger may trail it: AppliedIndex is the index the ledger
// itself has applied, and the difference is how far this node is behind
// (GET /readyz).
func (n *Node) CommitIndex() uint64 { return n.raft.CommitIndex() }
