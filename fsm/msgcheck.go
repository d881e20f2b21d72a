package fsm

import (
	"encoding/binary"
	"errors"
)

// maxMsgpackDepth bounds the nesting of values checkMsgpack accepts.
const maxMsgpackDepth = 32

var errMsgpack = errors.New("malformed msgpack")

// fixedMsgpackSize is the payload size of fixed-size msgpack types
// (numbers and fixext), by leading byte; 0 for the others.
var fixedMsgpackSize = [256]int8{0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8,
	0xd4: 2, 0xd5: 3, 0xd6: 5, 0xd7: 9, 0xd8: 17}

// checkMsgpack verifies that b is exactly one well-formed msgpack value whose
// every declared length fits in the bytes that follow. The msgpack decoder
// allocates whole slices from declared lengths, so this check keeps a
// corrupt or hostile entry from asking for gigabytes.
func checkMsgpack(b []byte) error {
	n, err := skipMsgpack(b, 0)
	if err != nil {
		return err
	}
	if n != len(b) {
		return errMsgpack
	}
	return nil
}

// skipMsgpack returns the length of the value at the start of b.
func skipMsgpack(b []byte, depth int) (int, error) {
	if len(b) == 0 || depth > maxMsgpackDepth {
		return 0, errMsgpack
	}
	c := b[0]
	rest := len(b) - 1
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return 1, nil
	case c >= 0x80 && c <= 0x8f:
		return skipMsgpackItems(b, 0, 2*int(c&0x0f), depth)
	case c >= 0x90 && c <= 0x9f:
		return skipMsgpackItems(b, 0, int(c&0x0f), depth)
	case c >= 0xa0 && c <= 0xbf:
		if int(c&0x1f) > rest {
			return 0, errMsgpack
		}
		return 1 + int(c&0x1f), nil
	}
	if k := fixedMsgpackSize[c]; k > 0 {
		k := int(k)
		if rest < k {
			return 0, errMsgpack
		}
		return 1 + k, nil
	}
	switch c {
	case 0xc4, 0xd9:
		return skipMsgpackBytes(b, 1, 0)
	case 0xc5, 0xda:
		return skipMsgpackBytes(b, 2, 0)
	case 0xc6, 0xdb:
		return skipMsgpackBytes(b, 4, 0)
	case 0xc7:
		return skipMsgpackBytes(b, 1, 1)
	case 0xc8:
		return skipMsgpackBytes(b, 2, 1)
	case 0xc9:
		return skipMsgpackBytes(b, 4, 1)
	case 0xdc, 0xdd, 0xde, 0xdf:
		return skipMsgpackContainer(b, depth)
	}
	return 0, errMsgpack
}

// msgpackLen reads the big-endian length of hdr bytes (1, 2 or 4) that
// follows the leading byte of b.
func msgpackLen(b []byte, hdr int) (int, error) {
	if len(b)-1 < hdr {
		return 0, errMsgpack
	}
	var n uint64
	switch hdr {
	case 1:
		n = uint64(b[1])
	case 2:
		n = uint64(binary.BigEndian.Uint16(b[1:]))
	case 4:
		n = uint64(binary.BigEndian.Uint32(b[1:]))
	}
	return int(n), nil
}

// skipMsgpackBytes returns the length of a str, bin or ext value at the start
// of b: a length of hdr bytes, extra bytes (the ext type), then the payload.
func skipMsgpackBytes(b []byte, hdr, extra int) (int, error) {
	n, err := msgpackLen(b, hdr)
	if err != nil {
		return 0, err
	}
	if n > len(b)-1-hdr-extra {
		return 0, errMsgpack
	}
	return 1 + hdr + extra + n, nil
}

// skipMsgpackContainer returns the length of an array 16/32 or map 16/32 at
// the start of b (leading byte 0xdc to 0xdf).
func skipMsgpackContainer(b []byte, depth int) (int, error) {
	c := b[0]
	hdr := 2
	if c == 0xdd || c == 0xdf {
		hdr = 4
	}
	n, err := msgpackLen(b, hdr)
	if err != nil {
		return 0, err
	}
	if c >= 0xde {
		if n > (len(b)-1-hdr)/2 {
			return 0, errMsgpack
		}
		n *= 2
	}
	return skipMsgpackItems(b, hdr, n, depth)
}

// skipMsgpackItems returns the length of a container at the start of b whose
// n values follow a header of 1+hdr bytes.
func skipMsgpackItems(b []byte, hdr, n, depth int) (int, error) {
	if n > len(b)-1-hdr { // each value needs at least one byte
		return 0, errMsgpack
	}
	off := 1 + hdr
	for i := 0; i < n; i++ {
		k, err := skipMsgpack(b[off:], depth+1)
		if err != nil {
			return 0, err
		}
		off += k
	}
	return off, nil
}
