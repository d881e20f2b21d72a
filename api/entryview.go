package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/fsm"
)

// entryView is a ledger entry in the API's own language (docs/api.md,
// "Ledger entries"), the same in /v1/ledger, /v1/principals/{id}/events
// and the SSE stream.
func entryView(e cluster.LedgerEntry) client.LedgerEntry {
	v := client.LedgerEntry{Sequence: e.Sequence, Index: e.Index, Time: e.Time, Kind: e.Kind, Actor: e.Actor,
		Status: e.Status, Error: e.Error, Subjects: e.Subjects, Alerts: e.Alerts, Leaf: e.Leaf, Command: json.RawMessage("null")}
	if e.Cmd != nil {
		v.Command = renderCommand(e.Cmd)
	}
	return v
}

func entryViews(entries []cluster.LedgerEntry) []client.LedgerEntry {
	out := make([]client.LedgerEntry, len(entries))
	for i, e := range entries {
		out[i] = entryView(e)
	}
	return out
}

// renderCommand renders a command with the API's field names and units.
// Each field of fsm's command structs says how, in its `view` tag:
// "name,unit" — name, when given, replaces the field's name in lower
// camel case ("-" leaves the field out); unit is one of
//
//	points     µpt (an int64, fsm.Opt or []int64) as decimal points
//	fraction   parts per million as a decimal fraction (0.25)
//	time       Unix ms as RFC 3339
//	category   a component index as its name
//	factors    an array of factor reports as an object by category
//	redacted   the string "redacted" (a token's secret hash)
//
// A []byte holding JSON is embedded as JSON, other bytes as base64. Unset
// optional values (an unset fsm.Opt, a zero time, an empty string, list or
// byte string, a nil pointer) are left out. A policy renders as GET
// /v1/policy shows it.
func renderCommand(cmd fsm.Command) json.RawMessage {
	if p, ok := cmd.(*fsm.SetPolicy); ok {
		out, err := json.Marshal(map[string]any{"policy": policyToDoc(&p.Policy)})
		if err != nil {
			return json.RawMessage("null")
		}
		return out
	}
	var b bytes.Buffer
	v := reflect.ValueOf(cmd)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	renderValue(&b, v, "")
	return b.Bytes()
}

var optType = reflect.TypeFor[fsm.Opt]()

// viewField is one field of a command struct as the view renders it.
type viewField struct {
	index int
	name  string
	unit  string
}

var viewFields sync.Map // reflect.Type → []viewField

func fieldsOf(t reflect.Type) []viewField {
	if f, ok := viewFields.Load(t); ok {
		return f.([]viewField)
	}
	var fields []viewField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, unit, _ := strings.Cut(f.Tag.Get("view"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = lowerCamel(f.Name)
		}
		fields = append(fields, viewField{index: i, name: name, unit: unit})
	}
	viewFields.Store(t, fields)
	return fields
}

// lowerCamel is a Go field name in lower camel case: PrincipalID →
// principalId, JWKS → jwks, OrgID → orgId.
func lowerCamel(s string) string {
	s = strings.ReplaceAll(s, "ID", "Id")
	r := []rune(s)
	i := 0
	for i < len(r) && unicode.IsUpper(r[i]) && (i == 0 || i+1 >= len(r) || unicode.IsUpper(r[i+1])) {
		r[i] = unicode.ToLower(r[i])
		i++
	}
	return string(r)
}

// empty reports whether v is an unset optional value, left out.
func empty(v reflect.Value, unit string) bool {
	switch {
	case v.Type() == optType:
		return !v.Interface().(fsm.Opt).Set
	case unit == "time":
		return v.Int() == 0
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	case reflect.String, reflect.Slice:
		return v.Len() == 0
	case reflect.Struct:
		return v.IsZero()
	}
	return false
}

func renderValue(b *bytes.Buffer, v reflect.Value, unit string) {
	switch {
	case v.Type() == optType:
		renderInt(b, v.Interface().(fsm.Opt).V, unit)
		return
	case unit == "redacted":
		b.WriteString(`"redacted"`)
		return
	case unit == "factors" && v.Kind() == reflect.Array:
		renderFactors(b, v)
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("null")
			return
		}
		renderValue(b, v.Elem(), unit)
	case reflect.Struct:
		renderStruct(b, v)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			renderBytes(b, v.Bytes())
			return
		}
		renderList(b, v, unit)
	case reflect.Array:
		renderList(b, v, unit)
	case reflect.String:
		s, _ := json.Marshal(v.String())
		b.Write(s)
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		renderInt(b, v.Int(), unit)
	case reflect.Uint8:
		if i := v.Uint(); unit == "category" && i < uint64(len(fsm.Categories)) {
			b.WriteString(strconv.Quote(fsm.Categories[i]))
			return
		}
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	case reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	default:
		// Nothing in fsm's commands reaches here (no floats, maps or
		// channels); encoding/json as a fallback.
		out, err := json.Marshal(v.Interface())
		if err != nil {
			out = []byte("null")
		}
		b.Write(out)
	}
}

func renderInt(b *bytes.Buffer, n int64, unit string) {
	switch unit {
	case "points", "fraction": // both in millionths
		b.WriteString(fsm.FormatDecimal(n, 6))
	case "time":
		b.WriteString(strconv.Quote(fsm.FormatTime(n)))
	default:
		b.WriteString(strconv.FormatInt(n, 10))
	}
}

func renderStruct(b *bytes.Buffer, v reflect.Value) {
	b.WriteByte('{')
	first := true
	for _, f := range fieldsOf(v.Type()) {
		fv := v.Field(f.index)
		if empty(fv, f.unit) {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(strconv.Quote(f.name))
		b.WriteByte(':')
		renderValue(b, fv, f.unit)
	}
	b.WriteByte('}')
}

func renderList(b *bytes.Buffer, v reflect.Value, unit string) {
	b.WriteByte('[')
	for i := range v.Len() {
		if i > 0 {
			b.WriteByte(',')
		}
		renderValue(b, v.Index(i), unit)
	}
	b.WriteByte(']')
}

// renderFactors renders [NumComponents][]byte as {"authentication": …}.
func renderFactors(b *bytes.Buffer, v reflect.Value) {
	b.WriteByte('{')
	first := true
	for i := range min(v.Len(), len(fsm.Categories)) {
		p := v.Index(i).Bytes()
		if len(p) == 0 {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(strconv.Quote(fsm.Categories[i]))
		b.WriteByte(':')
		renderBytes(b, p)
	}
	b.WriteByte('}')
}

func renderBytes(b *bytes.Buffer, p []byte) {
	var c bytes.Buffer
	if json.Compact(&c, p) == nil {
		b.Write(c.Bytes())
		return
	}
	b.WriteByte('"')
	b.WriteString(base64.StdEncoding.EncodeToString(p))
	b.WriteByte('"')
}
