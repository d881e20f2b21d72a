package fsm

import (
	"math/bits"
	"strconv"
	"strings"
)

// Point is one trust point in micro-points.
const Point int64 = 1_000_000

const hourMS int64 = 3_600_000

// mulDiv returns a*b/c for non-negative a, b and positive c, saturating at
// limit instead of overflowing.
func mulDiv(a, b, c, limit int64) int64 {
	if a <= 0 || b <= 0 || c <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return limit
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	if q > uint64(limit) { // #nosec G115 -- limit is non-negative
		return limit
	}
	return int64(q) // #nosec G115 -- q ≤ limit ≤ MaxInt64 here
}

func clamp(v, lo, hi int64) int64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// roundPoints rounds micro-points to the nearest whole point, halves up.
func roundPoints(v int64) int64 {
	if v >= 0 {
		return (v + Point/2) / Point
	}
	return -((-v + Point/2) / Point)
}

// ParseDecimal parses a decimal number such as "0.005", "-12", "1e-3" or
// "78.5" into an integer scaled by 10^scale, without floating point. Digits
// beyond the scale are truncated toward zero. ok is false for malformed input
// or values that do not fit.
func ParseDecimal(s string, scale int) (int64, bool) {
	if s == "" || len(s) > 64 {
		return 0, false
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 30 || e < -30 {
			return 0, false
		}
		exp = e
		s = s[:i]
	}
	intPart, frac := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i+1:]
	}
	if intPart == "" && frac == "" {
		return 0, false
	}
	digits := intPart + frac
	for _, r := range digits {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	shift := scale + exp - len(frac)
	digits = strings.TrimLeft(digits, "0")
	if shift < 0 {
		if -shift >= len(digits) {
			digits = ""
		} else {
			digits = digits[:len(digits)+shift]
		}
	} else {
		if len(digits)+shift > 18 {
			if digits == "" {
				return 0, true
			}
			return 0, false
		}
		digits += strings.Repeat("0", shift)
	}
	if digits == "" {
		return 0, true
	}
	if len(digits) > 18 {
		return 0, false
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

// FormatDecimal formats v/10^scale as a minimal decimal string ("0.005").
// It writes into a buffer on the stack: it runs for every number of every
// record served.
func FormatDecimal(v int64, scale int) string {
	if scale < 0 || scale > 18 {
		return formatDecimalSlow(v, scale)
	}
	var buf [48]byte
	u := uint64(v) // #nosec G115 -- the bits of v; negated below when v < 0 (two's complement)
	if v < 0 {
		u = -u // two's complement: right for math.MinInt64 too
	}
	// Digits from the right: the fraction (trailing zeros dropped), then
	// the point, then the integer part (at least "0").
	i := len(buf)
	frac := false
	for k := 0; k < scale; k++ {
		d := byte(u % 10)
		u /= 10
		if d == 0 && !frac {
			continue
		}
		frac = true
		i--
		buf[i] = '0' + d
	}
	if frac {
		i--
		buf[i] = '.'
	}
	for {
		i--
		buf[i] = '0' + byte(u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if v < 0 && (frac || buf[i] != '0' || i != len(buf)-1) {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}

// formatDecimalSlow is FormatDecimal for any scale.
func formatDecimalSlow(v int64, scale int) string {
	neg := v < 0
	if neg {
		v = -v
	}
	s := strconv.FormatInt(v, 10)
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if neg && s != "0" {
		s = "-" + s
	}
	return s
}
