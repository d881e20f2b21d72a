package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"slices"

	"github.com/trustledger/trustledger/fsm"
)

// newSecret returns a fresh token secret, "tl_" + 32 random bytes in
// base64url, and its SHA-256 hash.
func newSecret() (string, []byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	secret := "tl_" + base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(secret))
	return secret, sum[:], nil
}

// newTokenID returns a random token id ("tok-" + 12 hex digits).
func newTokenID() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "tok-" + hex.EncodeToString(b[:]), nil
}

// tokenInput is the body of POST /v1/tokens.
type tokenInput struct {
	// ID is optional; a random id is made when it is empty.
	ID          string   `json:"id"`
	Role        string   `json:"role"`
	PartnerID   string   `json:"partnerId"`
	Orgs        []string `json:"orgs"`
	Description string   `json:"description"`
}

// tokenView is a token as the API shows it: never its secret or hash.
type tokenView struct {
	ID          string   `json:"id"`
	Role        string   `json:"role"`
	PartnerID   string   `json:"partnerId,omitempty"`
	Orgs        []string `json:"orgs,omitempty"`
	Description string   `json:"description,omitempty"`
	CreatedAt   string   `json:"createdAt"`
	Revoked     bool     `json:"revoked"`
	RevokedAt   string   `json:"revokedAt,omitempty"`
}

func viewToken(t fsm.Token) tokenView {
	v := tokenView{ID: t.ID, Role: t.Role, PartnerID: t.PartnerID, Orgs: t.Orgs, Description: t.Description,
		CreatedAt: fsm.FormatTime(t.CreatedAt), Revoked: t.Revoked}
	if t.Revoked {
		v.RevokedAt = fsm.FormatTime(t.RevokedAt)
	}
	return v
}

func (in *tokenInput) command() (*fsm.CreateToken, error) {
	var errs fieldErrors
	c := &fsm.CreateToken{
		TokenID:     errs.id("id", in.ID, false),
		Role:        errs.oneOf("role", in.Role, true, fsm.Roles),
		PartnerID:   errs.id("partnerId", in.PartnerID, false),
		Description: errs.text("description", in.Description, false, fsm.MaxTextLen),
	}
	switch {
	case c.Role == "partner" && c.PartnerID == "":
		errs.required("partnerId")
	case c.Role != "partner" && c.PartnerID != "":
		errs.invalid("partnerId", "only partner tokens are bound to a partner")
	}
	if len(in.Orgs) > 0 && c.Role != "writer" {
		errs.invalid("orgs", "only writer tokens are scoped to organizations")
	}
	if len(in.Orgs) > 64 {
		errs.invalid("orgs", "at most 64 organizations")
	}
	for i, o := range in.Orgs {
		errs.id("orgs["+itoa(i)+"]", o, true)
		if slices.Contains(in.Orgs[:i], o) {
			errs.invalid("orgs["+itoa(i)+"]", "organization %q is listed twice", o)
		}
	}
	c.Orgs = in.Orgs
	return c, errs.err()
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var in tokenInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	cmd, err := in.command()
	if err != nil {
		return err
	}
	if cmd.TokenID == "" {
		if cmd.TokenID, err = newTokenID(); err != nil {
			return err
		}
	}
	// A partner token is issued for a registered partner: a rule of the
	// API's, as the ledger keeps the tokens of partners removed since.
	if cmd.PartnerID != "" {
		if _, ok := s.ledger().Partner(cmd.PartnerID); !ok {
			return unknownPartner(cmd.PartnerID)
		}
	}
	secret, hash, err := newSecret()
	if err != nil {
		return err
	}
	cmd.Hash = hash
	res, err := s.proposeChecked(r, cmd)
	if err != nil {
		return err
	}
	out := map[string]any{"index": res.Index, "id": cmd.TokenID, "token": secret, "role": cmd.Role}
	if cmd.PartnerID != "" {
		out["partnerId"] = cmd.PartnerID
	}
	if len(cmd.Orgs) > 0 {
		out["orgs"] = cmd.Orgs
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	toks := s.ledger().Tokens()
	out := make([]tokenView, 0, len(toks))
	for _, t := range toks {
		out = append(out, viewToken(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "id")
	if err != nil {
		return err
	}
	res, err := s.proposeChecked(r, &fsm.RevokeToken{TokenID: id})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"index": res.Index, "id": id, "revoked": true})
	return nil
}
