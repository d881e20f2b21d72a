package fsm

import "strconv"

// FormatTime renders Unix milliseconds as RFC 3339 in UTC ("2024-03-15T12:00:00Z",
// with ".mmm" when there are milliseconds). It is computed with integer
// civil-calendar arithmetic so the package needs no clock-reading import.
func FormatTime(ms int64) string {
	secs := floorDiv(ms, 1000)
	milli := ms - secs*1000
	days := floorDiv(secs, 86400)
	rem := secs - days*86400
	y, m, d := civil(days)
	var buf [32]byte // on the stack: the string below is the one allocation
	b := buf[:0]
	b = appendInt(b, y, 4)
	b = append(b, '-')
	b = appendInt(b, m, 2)
	b = append(b, '-')
	b = appendInt(b, d, 2)
	b = append(b, 'T')
	b = appendInt(b, rem/3600, 2)
	b = append(b, ':')
	b = appendInt(b, rem%3600/60, 2)
	b = append(b, ':')
	b = appendInt(b, rem%60, 2)
	if milli != 0 {
		b = append(b, '.')
		b = appendInt(b, milli, 3)
	}
	return string(append(b, 'Z'))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (H. Hinnant's algorithm).
func civil(z int64) (y, m, d int64) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func appendInt(b []byte, v int64, width int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var digits [20]byte
	s := strconv.AppendInt(digits[:0], v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}
