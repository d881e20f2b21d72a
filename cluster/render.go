package cluster

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strconv"

	"github.com/trustledger/trustledger/fsm"
)

// renderCommand renders a decoded ledger command as JSON for auditors. It
// follows encoding/json's defaults (exported fields by Go name, in
// declaration order) with three changes that make entries readable:
//   - a []byte field holding JSON (metadata, factor reports, JWKS,
//     attributes) is embedded as JSON rather than base64; other bytes are
//     base64 strings, and empty ones null;
//   - an fsm.Opt is its value, or null when unset;
//   - CreateToken.Hash is replaced by "redacted": the hash of a bearer
//     secret is not for auditors to copy.
func renderCommand(cmd fsm.Command) json.RawMessage {
	var b bytes.Buffer
	v := reflect.ValueOf(cmd)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	renderValue(&b, v, v.Type() == reflect.TypeFor[fsm.CreateToken]())
	return b.Bytes()
}

var optType = reflect.TypeFor[fsm.Opt]()

func renderValue(b *bytes.Buffer, v reflect.Value, redactHash bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("null")
			return
		}
		renderValue(b, v.Elem(), false)
	case reflect.Struct:
		if v.Type() == optType {
			o := v.Interface().(fsm.Opt)
			if !o.Set {
				b.WriteString("null")
				return
			}
			b.WriteString(strconv.FormatInt(o.V, 10))
			return
		}
		renderStruct(b, v, redactHash)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			renderBytes(b, v.Bytes())
			return
		}
		if v.IsNil() {
			b.WriteString("null")
			return
		}
		renderList(b, v)
	case reflect.Array:
		renderList(b, v)
	case reflect.String:
		s, _ := json.Marshal(v.String())
		b.Write(s)
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	default:
		// Nothing in fsm's commands reaches here today (no floats, maps or
		// channels); fall back to encoding/json.
		out, err := json.Marshal(v.Interface())
		if err != nil {
			b.WriteString("null")
			return
		}
		b.Write(out)
	}
}

func renderStruct(b *bytes.Buffer, v reflect.Value, redactHash bool) {
	t := v.Type()
	b.WriteByte('{')
	first := true
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		name, _ := json.Marshal(f.Name)
		b.Write(name)
		b.WriteByte(':')
		if redactHash && f.Name == "Hash" {
			b.WriteString(`"redacted"`)
			continue
		}
		renderValue(b, v.Field(i), false)
	}
	b.WriteByte('}')
}

func renderList(b *bytes.Buffer, v reflect.Value) {
	b.WriteByte('[')
	for i := range v.Len() {
		if i > 0 {
			b.WriteByte(',')
		}
		renderValue(b, v.Index(i), false)
	}
	b.WriteByte(']')
}

func renderBytes(b *bytes.Buffer, p []byte) {
	if len(p) == 0 {
		b.WriteString("null")
		return
	}
	var c bytes.Buffer
	if json.Compact(&c, p) == nil {
		b.Write(c.Bytes())
		return
	}
	b.WriteByte('"')
	b.WriteString(base64.StdEncoding.EncodeToString(p))
	b.WriteByte('"')
}
