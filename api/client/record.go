package client

import "github.com/trustledger/trustledger/fsm"

// The trust record's wire form is defined once, in package fsm, which
// derives it (docs/architecture.md, "The trust record"); the client
// decodes into the same types. fsm is pure and depends on the standard
// library only, so the client stays free of the server's dependencies.
// Decimal quantities are json.Number: exact, as the server wrote them.
type (
	// Record is a PrincipalTrust record: the 29 properties under their
	// original names, "@type", and the extra fields the server adds.
	Record = fsm.Record
	// ScoreComponents is the breakdown of trustScore into its five
	// components, in whole points; they add up to the score.
	ScoreComponents = fsm.Breakdown
	// RecordedSignal is one entry of positiveSignals or negativeSignals.
	RecordedSignal = fsm.SignalView
	// HistoryPoint is one point of trustHistory.
	HistoryPoint = fsm.HistoryView
	// Modifier is an active temporary modifier of the score.
	Modifier = fsm.ModifierView
	// Endorsement is one principal vouching for another.
	Endorsement = fsm.EndorsementView
	// FederatedAssessment is one partner's assessment in federatedTrust.
	FederatedAssessment = fsm.FederatedView
	// Alert is a trust alert.
	Alert = fsm.AlertView
	// Detection is a detection: a typed alert with its source, state,
	// evidence and the transitions of its review (GET /v1/detections).
	Detection = fsm.DetectionView
	// DetectionTransition is one state change of a detection.
	DetectionTransition = fsm.TransitionView
	// Hold names a detection holding a principal's decisions.
	Hold = fsm.HoldView
	// Explanation tells how a score was derived, in exact decimal points.
	Explanation = fsm.Explanation
	// Decision is an access decision (docs/scoring.md, "16. Decisions").
	Decision = fsm.Decision
	// Partner is a registered federation partner.
	Partner = fsm.PartnerView
	// Org is an organization and its baseline.
	Org = fsm.OrgView
)
