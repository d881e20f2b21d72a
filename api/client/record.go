package client

import "encoding/json"

// Record is a PrincipalTrust record (docs/architecture.md, "The trust
// record"): the 29 properties under their original names, "@type", and the
// extra fields the server adds.
// Decimal quantities are json.Number: exact, as the server wrote them.
type Record struct {
	Type                  string                         `json:"@type"`
	TrustID               string                         `json:"trustId"`
	PrincipalID           string                         `json:"principalId"`
	PrincipalType         string                         `json:"principalType"`
	TrustScore            int64                          `json:"trustScore"`
	TrustLevel            string                         `json:"trustLevel"`
	ScoreComponents       ScoreComponents                `json:"scoreComponents"`
	AuthenticationFactors json.RawMessage                `json:"authenticationFactors"`
	BehaviorMetrics       json.RawMessage                `json:"behaviorMetrics"`
	ComplianceStatus      json.RawMessage                `json:"complianceStatus"`
	RiskIndicators        json.RawMessage                `json:"riskIndicators"`
	PositiveSignals       []RecordedSignal               `json:"positiveSignals"`
	NegativeSignals       []RecordedSignal               `json:"negativeSignals"`
	TrustHistory          []HistoryPoint                 `json:"trustHistory"`
	TrustTrend            string                         `json:"trustTrend"`
	BaseTrustScore        json.Number                    `json:"baseTrustScore"`
	TrustModifiers        []Modifier                     `json:"trustModifiers"`
	TrustDecayRate        json.Number                    `json:"trustDecayRate"`
	TrustRecoveryRate     json.Number                    `json:"trustRecoveryRate"`
	MaxTrustScore         json.Number                    `json:"maxTrustScore"`
	MinTrustScore         json.Number                    `json:"minTrustScore"`
	Endorsements          []Endorsement                  `json:"endorsements"`
	FederatedTrust        map[string]FederatedAssessment `json:"federatedTrust"`
	LastAssessmentAt      string                         `json:"lastAssessmentAt"`
	NextAssessmentAt      string                         `json:"nextAssessmentAt"`
	AssessmentFrequency   string                         `json:"assessmentFrequency"`
	TrustAlerts           []Alert                        `json:"trustAlerts"`
	RequiresReview        bool                           `json:"requiresReview"`
	IsActive              bool                           `json:"isActive"`
	Metadata              json.RawMessage                `json:"metadata"`

	// OrgID is the principal's organization, when it has one.
	OrgID string `json:"orgId,omitempty"`
	// Context is the last context factor report.
	Context json.RawMessage `json:"context,omitempty"`
	// Confidence (0-100) says how much evidence the score rests on.
	Confidence int64 `json:"confidence"`
	// TrustScoreExact is the score before rounding to whole points.
	TrustScoreExact json.Number `json:"trustScoreExact,omitempty"`
	// Explanation tells how the score was derived.
	Explanation Explanation `json:"explanation"`
	// EvaluatedAt is the instant the score was evaluated at.
	EvaluatedAt string `json:"evaluatedAt"`
	// LedgerIndex is the ledger index the record reflects.
	LedgerIndex uint64 `json:"ledgerIndex"`
}

// ScoreComponents is the breakdown of trustScore into its five
// components, in whole points; they add up to the score.
type ScoreComponents struct {
	Authentication int64 `json:"authentication"`
	Behavior       int64 `json:"behavior"`
	Compliance     int64 `json:"compliance"`
	History        int64 `json:"history"`
	Context        int64 `json:"context"`
}

// Sum returns the total of the components.
func (s ScoreComponents) Sum() int64 {
	return s.Authentication + s.Behavior + s.Compliance + s.History + s.Context
}

// RecordedSignal is one entry of positiveSignals or negativeSignals.
type RecordedSignal struct {
	Event     string      `json:"event"`
	Category  string      `json:"category"`
	Timestamp string      `json:"timestamp"`
	Impact    json.Number `json:"impact"`
}

// HistoryPoint is one point of trustHistory.
type HistoryPoint struct {
	Timestamp string `json:"timestamp"`
	Score     int64  `json:"score"`
}

// Modifier is an active temporary modifier of the score.
type Modifier struct {
	ID        string      `json:"id"`
	Delta     json.Number `json:"delta"`
	Reason    string      `json:"reason,omitempty"`
	CreatedAt string      `json:"createdAt"`
	ExpiresAt string      `json:"expiresAt"`
}

// Endorsement is one principal vouching for another.
type Endorsement struct {
	EndorsementID string      `json:"endorsementId"`
	EndorserID    string      `json:"endorserId"`
	EndorseeID    string      `json:"endorseeId"`
	Weight        json.Number `json:"weight"`
	Reason        string      `json:"reason,omitempty"`
	CreatedAt     string      `json:"createdAt"`
	ExpiresAt     string      `json:"expiresAt,omitempty"`
	// Counted says whether the endorsement adds to the score now.
	Counted bool `json:"counted"`
}

// FederatedAssessment is one partner's assessment in federatedTrust.
type FederatedAssessment struct {
	Score        json.Number `json:"score"`
	Weight       json.Number `json:"weight,omitempty"`
	MaxInfluence json.Number `json:"maxInfluence,omitempty"`
	Influence    json.Number `json:"influence"`
	ValidUntil   string      `json:"validUntil,omitempty"`
	ReceivedAt   string      `json:"receivedAt,omitempty"`
	Counted      bool        `json:"counted"`
	// Source is "partner" (a pushed assessment) or "import".
	Source string `json:"source"`
}

// Alert is a trust alert.
type Alert struct {
	AlertID     string `json:"alertId"`
	PrincipalID string `json:"principalId"`
	Type        string `json:"type"`
	Severity    string `json:"severity"`
	RaisedAt    string `json:"raisedAt"`
	Message     string `json:"message"`
	// Status is open, acknowledged, dismissed, confirmed_compromised or
	// confirmed_safe.
	Status     string `json:"status"`
	ReviewedAt string `json:"reviewedAt,omitempty"`
	ReviewedBy string `json:"reviewedBy,omitempty"`
	Note       string `json:"note,omitempty"`
}

// Explanation tells how a score was derived, in exact decimal points.
type Explanation struct {
	ModelVersion     int                    `json:"modelVersion"`
	PolicyVersion    int64                  `json:"policyVersion"`
	BaseTrustScore   json.Number            `json:"baseTrustScore"`
	Components       map[string]json.Number `json:"components"`
	Evidence         json.Number            `json:"evidence"`
	Decay            json.Number            `json:"decay"`
	Modifiers        json.Number            `json:"modifiers"`
	Local            json.Number            `json:"local"`
	EndorsementBonus json.Number            `json:"endorsementBonus"`
	Federation       json.Number            `json:"federation"`
	Exact            json.Number            `json:"exact"`
	ClampedBy        string                 `json:"clampedBy,omitempty"`
	Summary          []string               `json:"summary"`
}
