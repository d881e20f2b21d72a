package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

// Problem is an RFC 7807 problem document as the API writes it
// (Content-Type application/problem+json).
type Problem struct {
	// Type is a stable URI naming the kind of problem; compare on it.
	Type string `json:"type,omitempty"`
	// Title is a short, human summary of the kind of problem.
	Title string `json:"title,omitempty"`
	// Status repeats the HTTP status code.
	Status int `json:"status,omitempty"`
	// Detail explains this occurrence.
	Detail string `json:"detail,omitempty"`
	// Instance identifies this occurrence (often the request path).
	Instance string `json:"instance,omitempty"`
	// Field names the input field at fault, when there is one.
	Field string `json:"field,omitempty"`
	// Code is a short machine-readable reason, when the server gives one
	// (for example "invalid", "required", "not_found", "conflict").
	Code string `json:"code,omitempty"`
	// Errors lists every fault when a request has several (the first is
	// also in Field and Detail).
	Errors []FieldError `json:"errors,omitempty"`
	// LeaderID and LeaderAddr name the leader on not-leader problems.
	LeaderID   string `json:"leaderId,omitempty"`
	LeaderAddr string `json:"leaderAddr,omitempty"`
}

// FieldError is one fault of a request that has several.
type FieldError struct {
	Field  string `json:"field"`
	Code   string `json:"code,omitempty"`
	Detail string `json:"detail"`
}

// Error is returned for every answer with a non-2xx status. When the body
// was an RFC 7807 problem, Problem holds it; otherwise Problem.Title is
// the status text and Problem.Detail the start of the body.
type Error struct {
	// Method and Path are those of the failed request.
	Method, Path string
	// StatusCode is the HTTP status code of the answer.
	StatusCode int
	// Problem is the decoded problem document.
	Problem Problem
	// RetryAfter is the delay the server asked for with Retry-After (on
	// 429 and 503), zero when absent.
	RetryAfter time.Duration
}

// Error describes the failure as "METHOD PATH: STATUS title: detail (field
// F)".
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.Path, e.StatusCode)
	if e.Problem.Title != "" {
		b.WriteString(" " + e.Problem.Title)
	}
	if e.Problem.Detail != "" && e.Problem.Detail != e.Problem.Title {
		b.WriteString(": " + e.Problem.Detail)
	}
	if e.Problem.Field != "" {
		b.WriteString(" (field " + e.Problem.Field + ")")
	}
	return b.String()
}

// IsNotFound reports whether err is an *Error with status 404.
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// StatusCode returns the HTTP status of an *Error in err's chain, or 0.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

func decodeError(method, path string, resp *http.Response, body []byte) *Error {
	e := &Error{Method: method, Path: path, StatusCode: resp.StatusCode}
	ct := resp.Header.Get("Content-Type")
	if strings.Contains(ct, "json") && json.Unmarshal(body, &e.Problem) == nil &&
		(e.Problem.Title != "" || e.Problem.Detail != "" || e.Problem.Type != "") {
		if e.Problem.Title == "" {
			e.Problem.Title = http.StatusText(resp.StatusCode)
		}
	} else {
		e.Problem = Problem{Title: http.StatusText(resp.StatusCode), Status: resp.StatusCode,
			Detail: strings.TrimSpace(truncate(string(body), 300))}
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		e.RetryAfter = parseRetryAfter(ra)
	}
	return e
}

func parseRetryAfter(v string) time.Duration {
	var secs int
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// UnreachableError is returned when no HTTP answer could be had from the
// node: the connection was refused, the name did not resolve, the TLS
// handshake failed, or the connection broke.
type UnreachableError struct {
	// Address is the node's base URL.
	Address string
	// Err is the underlying transport error.
	Err error
}

// Error says that the node at Address is unreachable, and why.
func (e *UnreachableError) Error() string {
	return "trustd at " + e.Address + " is unreachable: " + e.Reason()
}

// Unwrap returns the transport error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// Reason is a short cause such as "connection refused" or "no such host
// example.invalid".
func (e *UnreachableError) Reason() string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(e.Err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(e.Err, syscall.EHOSTUNREACH), errors.Is(e.Err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.As(e.Err, &dnsErr):
		return "no such host " + dnsErr.Name
	case errors.Is(e.Err, os.ErrDeadlineExceeded):
		return "connection timed out"
	}
	var opErr *net.OpError
	if errors.As(e.Err, &opErr) && opErr.Err != nil {
		return opErr.Err.Error()
	}
	return e.Err.Error()
}
