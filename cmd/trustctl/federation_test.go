package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/federation"
)

// runSub runs a sub-command of top directly, as trustctl would once top is
// in the command tree, with global flags (--addr, and --token unless the
// arguments name one).
func runSub(t *testing.T, global []string, top *command, args ...string) (string, error) {
	t.Helper()
	var out, errb strings.Builder
	c := newCLI(strings.NewReader(""), &out, &errb)
	for _, s := range top.subs {
		if s.name == args[0] {
			rest := append([]string{}, args[1:]...)
			for i := 0; i+1 < len(global); i += 2 {
				if !slices.Contains(rest, global[i]) {
					rest = append(rest, global[i], global[i+1])
				}
			}
			err := s.run(context.Background(), c, rest)
			return out.String(), err
		}
	}
	t.Fatalf("no sub-command %s %s", top.name, args[0])
	return "", nil
}

// A partner registered with trustctl partner add, given a token, pushes
// SETs with trustctl federation send; suspend, resume and remove act on
// delivery.
func TestPartnerAndFederationCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Raft node")
	}
	t.Parallel()
	clearEnv(t)
	addr, admin := startNode(t)
	global := []string{"--addr", addr, "--token", admin}
	dir := t.TempDir()

	keyFile, jwkFile := partnerKeyFiles(t, dir)

	ctx := context.Background()
	cl, err := client.New(client.Config{Address: addr, Token: admin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.RegisterPrincipal(ctx, client.Registration{PrincipalID: "alice", PrincipalType: "user"}); err != nil {
		t.Fatal(err)
	}
	if _, err := runSub(t, global, named(tree(commandTable), "partner"), "add", "acme", "--issuer", "https://idp.acme.example", "--audience", "tl",
		"--keys", jwkFile, "--weight", "0.5", "--max-influence", "10"); err != nil {
		t.Fatalf("partner add: %v", err)
	}
	if _, err := runSub(t, global, named(tree(commandTable), "partner"), "add", "bad", "--issuer", "https://bad.example", "--audience", "tl",
		"--keys", keyFile, "--weight", "0.1", "--max-influence", "1"); err == nil {
		t.Error("partner add with a PEM private key file: accepted")
	}
	out, err := runSub(t, global, named(tree(commandTable), "partner"), "list", "-o", "json")
	var list struct {
		Partners []client.Partner `json:"partners"`
	}
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Partners) != 1 || list.Partners[0].Status != "active" {
		t.Fatalf("partner list: %v %s", err, out)
	}
	tok, err := cl.CreateToken(ctx, client.TokenRequest{Role: "partner", PartnerID: "acme"})
	if err != nil {
		t.Fatal(err)
	}

	send := func(extra ...string) (string, error) {
		args := append([]string{"send", "--token", tok.Secret, "--key", keyFile, "--kid", "acme-1",
			"--issuer", "https://idp.acme.example", "--audience", "tl", "--subject", "alice", "-o", "json"}, extra...)
		return runSub(t, global, named(tree(commandTable), "federation"), args...)
	}
	out, err = send("--score", "20", "--jti", "j1")
	var res struct {
		Index    uint64 `json:"index"`
		Recorded bool   `json:"recorded"`
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Index == 0 || !res.Recorded {
		t.Fatalf("send: %v %s", err, out)
	}
	rec, _, err := cl.GetPrincipal(ctx, "alice", nil)
	if err != nil || !strings.Contains(string(setTestJSON(t, rec)), `"acme":{"score":20`) {
		t.Errorf("record after send: %v %s", err, setTestJSON(t, rec))
	}
	var se *client.SETError
	if _, err := send("--score", "20", "--jti", "j1"); !asSETError(err, &se) || se.Description != "jti already used" {
		t.Errorf("replay: %v", err)
	}
	if out, err := send("--event", "session-revoked"); err != nil || !strings.Contains(out, `"recorded": true`) {
		t.Errorf("session-revoked: %v %s", err, out)
	}
	if out, err := send("--event", "urn:example:unknown"); err != nil || !strings.Contains(out, `"recorded": false`) {
		t.Errorf("unknown event: %v %s", err, out)
	}
	if out, err := send("--score", "20", "--dry-run"); err != nil || strings.Count(strings.TrimSpace(out), ".") != 2 {
		t.Errorf("dry run: %v %q", err, out)
	}

	if _, err := runSub(t, global, named(tree(commandTable), "partner"), "suspend", "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := send("--score", "30"); !asSETError(err, &se) || se.Code != "access_denied" {
		t.Errorf("send while suspended: %v", err)
	}
	if _, err := runSub(t, global, named(tree(commandTable), "partner"), "resume", "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := send("--score", "30"); err != nil {
		t.Errorf("send after resume: %v", err)
	}
	if _, err := runSub(t, global, named(tree(commandTable), "partner"), "remove", "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := send("--score", "30"); !asSETError(err, &se) || se.Code != "access_denied" {
		t.Errorf("send after remove: %v", err)
	}
}

func asSETError(err error, target **client.SETError) bool { return errors.As(err, target) }

func setTestJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// partnerKeyFiles writes a new Ed25519 partner key to dir/acme.pem (PKCS #8)
// and its public JWK, kid acme-1, to dir/acme-jwk.json.
func partnerKeyFiles(t *testing.T, dir string) (keyFile, jwkFile string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	keyFile = filepath.Join(dir, "acme.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	jwk, _ := federation.PublicJWK(priv, "acme-1")
	jwkFile = filepath.Join(dir, "acme-jwk.json")
	if err := os.WriteFile(jwkFile, jwk, 0o600); err != nil {
		t.Fatal(err)
	}
	return keyFile, jwkFile
}
