package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/trustledger/trustledger/fsm"
)

// auditRequest writes one JSON line about an authenticated request (or a
// failed authentication) to the audit log: when, which token and role,
// what was called, the outcome, the principal concerned and, for writes,
// the ledger index.
func (s *Server) auditRequest(r *http.Request, info *requestInfo, status int, d time.Duration) {
	msg := "api request"
	if info.forwarded {
		return
	}
	if !info.authed {
		if status != http.StatusUnauthorized {
			return
		}
		msg = "authentication failed"
	}
	attrs := []slog.Attr{
		slog.String("tokenId", info.token.ID),
		slog.String("role", info.token.Role),
		slog.String("method", r.Method),
		slog.String("route", info.route.Pattern),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.String("remote", r.RemoteAddr),
		slog.Int64("durationMs", d.Milliseconds()),
	}
	if info.principal != "" {
		attrs = append(attrs, slog.String("principal", info.principal))
	}
	if info.index != 0 {
		attrs = append(attrs, slog.Uint64("index", info.index))
	}
	if by := r.Header.Get(HeaderForwardedBy); by != "" {
		attrs = append(attrs, slog.String("forwardedBy", by), slog.String("forwardedFor", r.Header.Get("X-Forwarded-For")))
	}
	s.audit.LogAttrs(context.Background(), slog.LevelInfo, msg, attrs...)
}

// auditAlerts writes one JSON line per trust alert a committed write
// raised, for SIEM: the node whose API proposed the write (the leader)
// writes it, once.
func (s *Server) auditAlerts(res *fsm.Result) {
	if len(res.Alerts) == 0 {
		return
	}
	l := s.ledger()
	for _, r := range res.Alerts {
		for _, a := range l.Alerts("", r.PrincipalID) {
			if a.AlertID != r.ID {
				continue
			}
			s.audit.LogAttrs(context.Background(), slog.LevelWarn, "trust alert",
				slog.String("alertId", a.AlertID), slog.String("principal", a.PrincipalID), slog.String("type", a.Type),
				slog.String("severity", a.Severity), slog.String("raisedAt", a.RaisedAt), slog.String("message", a.Message),
				slog.Uint64("index", res.Index))
		}
	}
}
