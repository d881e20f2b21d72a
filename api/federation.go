package api

import (
	"net/http"
	"strings"

	"github.com/trustledger/trustledger/federation"
	"github.com/trustledger/trustledger/fsm"
)

// partnerInput is the body of PUT /v1/federation/partners/{partnerId}.
type partnerInput struct {
	Issuer       string  `json:"issuer"`
	Audience     string  `json:"audience"`
	JWKS         jsonDoc `json:"jwks"`
	Weight       decimal `json:"weight"`
	MaxInfluence decimal `json:"maxInfluence"`
	Status       string  `json:"status"`
	RateLimit    *int64  `json:"rateLimit"`
	// SSF registers the partner from its transmitter's configuration
	// (federation_ssf.go); SubjectAliases map its subjects to principals.
	SSF            *partnerSSFInput  `json:"ssf"`
	SubjectAliases map[string]string `json:"subjectAliases"`
}

// command makes the UpsertPartner of the input; keys says whether issuer,
// audience and jwks are given (not with ssf: the transmitter gives them).
func (in *partnerInput) command(id string, keys bool) (*fsm.UpsertPartner, error) {
	var errs fieldErrors
	c := &fsm.UpsertPartner{
		PartnerID:    id,
		Issuer:       errs.text("issuer", in.Issuer, keys, fsm.MaxTextLen),
		Audience:     errs.text("audience", in.Audience, keys, fsm.MaxTextLen),
		Weight:       errs.scaled("weight", in.Weight, true, 0, 1_000_000).V,
		MaxInfluence: errs.points("maxInfluence", in.MaxInfluence, true).V,
		Suspended:    errs.oneOf("status", in.Status, false, []string{"active", "suspended"}) == "suspended",
	}
	if in.RateLimit != nil {
		if *in.RateLimit < 0 || *in.RateLimit > 1_000_000 {
			errs.invalid("rateLimit", "must be within [0, 1000000] events per second (0: the default)")
		}
		c.RateLimit = *in.RateLimit
	}
	if len(in.SubjectAliases) > fsm.MaxAliases {
		errs.invalid("subjectAliases", "at most %d aliases", fsm.MaxAliases)
	}
	for subject, principal := range in.SubjectAliases {
		if !strings.HasPrefix(subject, "email:") && !strings.HasPrefix(subject, "iss_sub:") && !strings.HasPrefix(subject, "opaque:") {
			errs.invalid("subjectAliases", "subject %q: name it as email:<address>, iss_sub:<iss> <sub> or opaque:<id>", clipText(subject))
		} else if !fsm.ValidID(principal) {
			errs.invalid("subjectAliases", "subject %q: %q is not a principal id", clipText(subject), clipText(principal))
		}
		c.Aliases = append(c.Aliases, fsm.SubjectAlias{Subject: subject, PrincipalID: principal})
	}
	if !keys {
		return c, errs.err()
	}
	if !in.JWKS.set() {
		errs.required("jwks")
	} else if b := in.JWKS.bytesOf(&errs, "jwks", '{', fsm.MaxJSONFieldBytes); b != nil {
		checkJWKS(&errs, b)
		c.JWKS = b
	}
	return c, errs.err()
}

// checkJWKS checks a JSON Web Key Set (RFC 7517 §5) as SET verification
// will use it: public Ed25519, P-256 or RSA keys, each with a unique kid, with
// only the public members of their key type, exactly as spelled, and no
// private key material in any case (federation.ParseKeySet). The set is
// stored and replicated as given, so nothing else may ride along.
func checkJWKS(errs *fieldErrors, b []byte) {
	if _, err := federation.ParseKeySet(b); err != nil {
		errs.invalid("jwks", "%v", err)
	}
}

func (s *Server) putPartner(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "partnerId", "partnerId")
	if err != nil {
		return err
	}
	var in partnerInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.SSF != nil {
		return s.registerSSFPartner(w, r, id, &in)
	}
	cmd, err := in.command(id, true)
	if err != nil {
		return err
	}
	if old, ok := s.ledger().Partner(id); ok && old.SSF != nil && old.SSF.StreamID != "" {
		// Registered by hand over a registration from a transmitter: the
		// transmitter's stream and token go once the new one is in.
		if err := upsert(s, w, r, cmd, "partner", func() (fsm.PartnerView, bool) { return s.ledger().Partner(id) }); err != nil {
			return err
		}
		s.forgetSSFPartner(r, old.SSF)
		return nil
	}
	return upsert(s, w, r, cmd, "partner", func() (fsm.PartnerView, bool) { return s.ledger().Partner(id) })
}

func (s *Server) getPartner(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "partnerId", "partnerId")
	if err != nil {
		return err
	}
	p, ok := s.ledger().Partner(id)
	if !ok {
		return unknownPartner(id)
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func unknownPartner(id string) error {
	return withCode(newProblem(ProblemNotFound, "partnerId", "unknown partner %q", id), "not_found")
}

func (s *Server) listPartners(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"partners": s.ledger().Partners()})
	return nil
}

func (s *Server) deletePartner(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "partnerId", "partnerId")
	if err != nil {
		return err
	}
	old, _ := s.ledger().Partner(id)
	res, err := s.proposeChecked(r, &fsm.RemovePartner{PartnerID: id})
	if err != nil {
		return err
	}
	if old.SSF != nil {
		s.forgetSSFPartner(r, old.SSF)
	}
	writeJSON(w, http.StatusOK, map[string]any{"index": res.Index, "partnerId": id})
	return nil
}
