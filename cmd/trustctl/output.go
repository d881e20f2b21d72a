package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// emit writes v as indented JSON with --output json, and otherwise lets
// table write the human form through a tabwriter.
func (c *cli) emit(v any, table func(w io.Writer)) error {
	if c.g.output == "json" {
		return writeJSON(c.stdout, v)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	table(tw)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// writeJSON writes v indented, with a trailing newline, without escaping
// HTML characters.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// row writes one tab-separated table row.
func row(w io.Writer, cols ...any) {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = cell(c)
	}
	fmt.Fprintln(w, strings.Join(s, "\t"))
}

// cell formats one table cell: empty values show as "-".
func cell(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = string(x)
	case json.RawMessage:
		s = compactJSON(x)
	case []string:
		s = strings.Join(x, ",")
	case bool:
		s = yesNo(x)
	default:
		s = fmt.Sprint(x)
	}
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("\t", " ", "\n", " ").Replace(s)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// compactJSON shows a JSON value on one line; empty objects and arrays
// show as "".
func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	switch s := buf.String(); s {
	case "{}", "[]", "null":
		return ""
	default:
		return s
	}
}

// signed shows a decimal with an explicit sign.
func signed(n json.Number) string {
	s := string(n)
	if s == "" || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return s
	}
	if strings.Trim(s, "0.") == "" {
		return s
	}
	return "+" + s
}
