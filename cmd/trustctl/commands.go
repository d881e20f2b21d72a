package main

import "strings"

// commandTable is trustctl's whole command tree, one leaf an entry, the
// way a route table lists every route of a server: each leaf's place,
// synopsis, summary, positional arguments and setup. The files of the
// command groups hold only the setups, the behaviour; the inner nodes are
// the paths' leading names (see tree), in the order the table first names
// them, which is the order of 'trustctl help'.
var commandTable = []leaf{
	{path: "principal register", args: "ID --type TYPE [--org ORG] [--base N] [--min N] [--max N] [--decay-rate N] [--recovery-rate N] [--frequency F] [--inactive] [--metadata JSON]",
		summary: "register a principal (user, service, device, application or network)", pos: one("ID"), setup: principalRegister},
	{path: "principal update", args: "ID [--org ORG] [--min N] [--max N] [--decay-rate N] [--recovery-rate N] [--frequency F] [--active=BOOL] [--metadata JSON]",
		summary: "change a principal's settings", pos: one("ID"), setup: principalUpdate},
	{path: "principal get", args: "ID [--at TIME] [--consistency C] [--index N --wait D]",
		summary: "show a principal's trust record", pos: one("ID"), setup: reads(true, principalGet)},
	{path: "principal list", args: "[--type T] [--level L] [--org ORG] [--requires-review[=BOOL]] [--overdue[=BOOL]] [--limit N] [--cursor C] [--all]",
		summary: "list trust records", setup: readsWith(true, principalList)},
	{path: "principal history", args: "ID", summary: "show a principal's score history", pos: one("ID"), setup: reads(false, principalHistory)},
	{path: "principal events", args: "ID [--after SEQ] [--limit N]", summary: "show the ledger entries about a principal",
		pos: one("ID"), setup: readsWith(false, principalEvents)},

	{path: "org set", args: "ORG --base N [--name NAME]",
		summary: "set an organization's baseline, inherited by principals registered in it", pos: one("ORG"), setup: orgSet},
	{path: "org get", args: "ORG", summary: "show an organization", pos: one("ORG"), setup: reads(false, orgGet)},

	{path: "signal send", args: "[ID] --event E --category C --impact N [--event-id ID] [--observed-at T] [--attributes JSON] | --file F.jsonl|- [--batch 100]",
		summary: "send one signal, or a file of JSON lines (one signal object a line) in batches",
		pos:     positional{free: true}, setup: signalSend},

	{path: "factors set", args: "ID [--authentication JSON] [--behavior JSON] [--compliance JSON] [--risk JSON] [--context JSON] | --file F.json|-",
		summary: "report a principal's factors (each given kind replaces the previous report)", pos: one("ID"), setup: factorsSet},

	// endorse ENDORSER ENDORSEE is endorse add, and its usage says so.
	{path: "endorse add", args: "ENDORSER ENDORSEE [--weight N] [--reason TEXT] [--expires TIME]",
		summary: "have ENDORSER vouch for ENDORSEE (also: trustctl endorse ENDORSER ENDORSEE)",
		pos:     positional{n: 2, names: "ENDORSER ENDORSEE"}, usage: "trustctl endorse", setup: endorseAdd, byDefault: true},
	{path: "endorse revoke", args: "ENDORSEMENT_ID", summary: "revoke an endorsement", pos: one("ENDORSEMENT_ID"),
		setup: noFlags(endorseRevoke)},

	{path: "modifier add", args: "ID --amount POINTS --reason TEXT --expires TIME",
		summary: "add a temporary modifier to a principal's score (analyst role)", pos: one("ID"), setup: modifierAdd},
	{path: "modifier remove", args: "ID MODIFIER_ID", summary: "remove a temporary modifier before it expires",
		pos: positional{n: 2, names: "ID MODIFIER_ID"}, setup: noFlags(modifierRemove)},

	{path: "decide", args: "ID --action ACTION [--sensitivity low|medium|high|critical] [--context JSON] [--at TIME]",
		summary: "ask for an access decision (allow, step_up or deny) and its session terms", pos: one("ID"), setup: decide},
	{path: "simulate", args: "ID [--signal EVENT:CATEGORY:IMPACT]... [--file F.jsonl|-] [--factors JSON] [--at TIME]",
		summary: "show what a record would become after hypothetical signals and factors (nothing is written)",
		pos:     one("ID"), setup: simulate},

	{path: "alerts list", args: "[--status S] [--principal ID]",
		summary: "list trust alerts (also: trustctl alerts)", setup: readsWith(false, alertsList), byDefault: true},
	{path: "alerts review", args: "ALERT_ID --action acknowledge|remediate|dismiss|confirm-compromised|confirm-safe [--note TEXT]",
		summary: "record a review of an alert", pos: one("ALERT_ID"), setup: alertsReview},

	{path: "detections list", args: "[--state S] [--principal ID] [--type T] [--source rule|signal|partner|import]",
		summary: "list detections: type, source, state and whether they hold decisions (also: trustctl detections)",
		setup:   detectionsList, byDefault: true},
	{path: "detections get", args: "DETECTION_ID", summary: "show a detection, its evidence and the transitions of its review",
		pos: one("DETECTION_ID"), setup: reads(false, detectionGet)},
	{path: "detections review", args: "DETECTION_ID --action acknowledge|remediate|dismiss|confirm-compromised|confirm-safe [--reason TEXT]",
		summary: "review a detection (analyst role); refused when its state does not allow the action", pos: one("DETECTION_ID"),
		setup: detectionReview},

	{path: "policy get", args: "", summary: "print the scoring and decision policy (JSON)", setup: readsWith(false, policyGet)},
	{path: "policy set", args: "FILE|-", summary: "change the policy with a JSON document shaped like 'policy get' prints (fields left out are kept)",
		pos: one("FILE (or - for standard input)"), setup: policySet},

	{path: "token create", args: "--role admin|operator|writer|reader|partner|auditor|gateway|analyst [--partner ID] [--org ORG]... [--description TEXT]",
		summary: "create an API token (its secret is shown once)", setup: tokenCreate},
	{path: "token list", args: "", summary: "list API tokens (never their secrets)", setup: noFlags(tokenList)},
	{path: "token revoke", args: "TOKEN_ID", summary: "revoke an API token", pos: one("TOKEN_ID"), setup: noFlags(tokenRevoke)},

	{path: "import", args: "FILE|- [--batch 100] [--quiet]",
		summary: "import PrincipalTrust records in the original format (a JSON array, {\"records\": [...]}, one record, or JSON lines)",
		pos:     one("FILE (or - for standard input)"), setup: importRecords},
	{path: "ledger", args: "[--after SEQ] [--limit N]",
		summary: "show ledger entries in order, for audit", setup: readsWith(false, ledgerList)},
	{path: "verify ledger", args: "[--verifier-key KEY] [--state FILE] [--all]",
		summary: "check the ledger's signed checkpoint against the pinned key and prove it extends the one checked last time",
		setup:   verifyLedger},
	{path: "verify principal", args: "PRINCIPAL_ID [--verifier-key KEY] [--state FILE] [--tree-size N | --bundle FILE|-]",
		summary: "prove a principal's record: check every entry it depends on against the signed checkpoint and replay them locally",
		pos:     one("PRINCIPAL_ID"), setup: verifyPrincipal},
	{path: "status", args: "", summary: "show the node's role, leader, applied index, state digest and region",
		setup: noFlags(status)},

	{path: "cluster join", args: "--node-id ID --raft-addr HOST:PORT --api-addr URL [--gossip-addr HOST:PORT] [--voter=false] [--region R] [--wait 15s]",
		summary: "add a node to the cluster through any member (--addr); --voter=false adds a read replica", setup: clusterJoin},
	{path: "cluster members", args: "", summary: "list the members: region, role, gossip state, applied index and lag", setup: noFlags(clusterMembers)},
	{path: "cluster remove", args: "NODE_ID", summary: "remove a node from the cluster (refused if a quorum would be lost)",
		pos: one("NODE_ID"), setup: noFlags(clusterRemove)},
	{path: "cluster transfer-leadership", args: "[NODE_ID]", summary: "hand leadership to a voter (default: the most up-to-date one)",
		pos: positional{n: 1, upTo: true}, setup: noFlags(clusterTransfer)},
	{path: "cluster status", args: "", summary: "the cluster's health: leader, quorum, failure tolerance, lag", setup: noFlags(clusterStatus)},
	{path: "cluster ca", args: "", summary: "the cluster CA: its fingerprint (for --ca-fingerprint) and certificate", setup: noFlags(clusterCA)},
	{path: "cluster gossip-key rotate", args: "", summary: "replace the gossip encryption key on every member, without downtime",
		setup: noFlags(clusterGossipKeyRotate)},

	{path: "snapshot save", args: "FILE|- [--stale]", pos: one("FILE (or - for standard output)"),
		summary: "save a snapshot of the replicated state (a backup) to FILE", setup: snapshotSave},
	// restore connects once the snapshot is open, and closes it either way.
	{path: "snapshot restore", args: "FILE|-", pos: one("FILE (or - for standard input)"),
		summary: "replace the whole cluster's state with a snapshot (refused if older than the ledger)",
		setup:   snapshotRestore, ownClient: true},

	// bench makes a client of its own (benchClient).
	{path: "bench", args: "[--mode signals|reads|decisions|authz] [--concurrency N] [--duration D] [--warmup D] [--batch N] [--principals N] [--prefix P] [--consistency C]",
		summary: "drive a node with signal batches, record reads, decisions or gateway authorizations; print throughput and latency as JSON",
		setup:   bench, ownClient: true},

	{path: "partner add", args: "PARTNER_ID --issuer URL --audience AUD --keys FILE... --weight W --max-influence POINTS " +
		"[--rate-limit N] [--suspended]",
		summary: "register or replace a federation partner (keys from JWK or JWKS files)", pos: one("PARTNER_ID"), setup: partnerAdd},
	{path: "partner list", args: "", summary: "list federation partners", setup: noFlags(partnerList)},
	{path: "partner suspend", args: "PARTNER_ID", pos: one("PARTNER_ID"),
		summary: "suspend a partner: its SETs are refused and its assessments stop counting", setup: noFlags(partnerSetStatus("suspended"))},
	{path: "partner resume", args: "PARTNER_ID", summary: "reactivate a suspended partner", pos: one("PARTNER_ID"),
		setup: noFlags(partnerSetStatus("active"))},
	{path: "partner remove", args: "PARTNER_ID", summary: "remove a partner; its assessments stop counting", pos: one("PARTNER_ID"),
		setup: noFlags(partnerRemove)},
	{path: "federation send", args: "--key FILE [--kid KID] --issuer URL --audience AUD --subject ID [--subject-format opaque|email|iss_sub] " +
		"(--score N [--valid-for DURATION] | --event TYPE [--payload JSON]) [--jti ID] [--dry-run]",
		summary: "sign a Security Event Token with a partner key and push it (test a partner integration)", setup: federationSend},

	// tls mints files and talks to no node.
	{path: "tls ca create", args: "--out DIR [--name NAME]", ownClient: true, setup: tlsCACreate,
		summary: "create a CA for your own PKI: DIR/ca.crt (for trustd --tls-ca-file) and DIR/ca.key"},
	{path: "tls cert create", args: "--ca DIR --node-id ID [--host HOST]... --out DIR", ownClient: true, setup: tlsCertCreate,
		summary: "issue a node certificate from that CA: DIR/ID.crt and DIR/ID.key (for trustd --tls-cert-file, --tls-key-file)"},
}

// leaf is what the table states of a leaf command; run does the rest.
type leaf struct {
	path      string     // its place in the tree: the names from the top down, space-separated
	args      string     // synopsis of arguments and flags
	summary   string     // its line in 'trustctl help'
	pos       positional // the positional arguments it takes
	setup     setup      // its flags, the checks before it connects, its call
	ownClient bool       // it connects itself, if at all: run does not, and calls it with a nil client
	usage     string     // the name its usage shows, when not "trustctl" and its path
	byDefault bool       // the node above runs it when the first argument names none of its sub-commands
}

// command is a node of the command tree: a leaf runs (runner.go), an
// inner node dispatches on its first argument.
type command struct {
	name     string
	subs     []*command
	fallback string // sub-command run when the first argument names none
	leaf            // what the table states, on a leaf
}

func (c *cli) commands() []*command { return tree(commandTable) }

// tree builds the command tree of a table, making each inner node where
// a path first names it.
func tree(table []leaf) []*command {
	var top []*command
	for _, l := range table {
		names := strings.Fields(l.path)
		list, last := &top, len(names)-1
		var parent *command
		for _, name := range names[:last] {
			parent = named(*list, name)
			if parent == nil {
				parent = &command{name: name}
				*list = append(*list, parent)
			}
			list = &parent.subs
		}
		*list = append(*list, &command{name: names[last], leaf: l})
		if l.byDefault {
			parent.fallback = names[last]
		}
	}
	return top
}

// named is the node named name in list, nil if none is.
func named(list []*command, name string) *command {
	for _, cmd := range list {
		if cmd.name == name {
			return cmd
		}
	}
	return nil
}
