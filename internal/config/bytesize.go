package config

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Size units. Decimal units are powers of ten, binary units powers of two.
const (
	kib ByteSize = 1 << 10
	mib ByteSize = 1 << 20
	gib ByteSize = 1 << 30
	tib ByteSize = 1 << 40
)

var byteUnits = map[string]ByteSize{
	"B":   1,
	"KB":  1e3,
	"MB":  1e6,
	"GB":  1e9,
	"TB":  1e12,
	"KiB": kib,
	"MiB": mib,
	"GiB": gib,
	"TiB": tib,
}

// errByteSizeSyntax is the message for anything that is not a size. It never repeats the value.
var errByteSizeSyntax = errors.New(`must be a size in bytes: a whole number, optionally followed by ` +
	`B, KB, MB, GB, TB (powers of 10) or KiB, MiB, GiB, TiB (powers of 2), e.g. 65536 or "64KiB"`)

// UnmarshalYAML accepts a non-negative integer (bytes) or a string made of a whole number, an
// optional space and a unit: B, KB, MB, GB, TB (powers of 10) or KiB, MiB, GiB, TiB (powers of
// 2). Units are case-sensitive. A null value leaves b unchanged. Errors never quote the value.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errByteSizeSyntax
	}
	switch n.ShortTag() {
	case nullTag:
		return nil
	case intTag, strTag:
	case floatTag:
		return errors.New("must be a whole number of bytes")
	default:
		return errByteSizeSyntax
	}
	v, err := parseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// parseByteSize parses "1500", "64KiB", "64 KiB", "10MB".
func parseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") {
		return 0, errors.New("must not be negative")
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, errByteSizeSyntax
	}
	unit := ByteSize(1)
	if rest := strings.TrimLeft(s[i:], " "); rest != "" {
		u, ok := byteUnits[rest]
		if !ok {
			return 0, errByteSizeSyntax
		}
		unit = u
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || n > math.MaxInt64/int64(unit) {
		return 0, errors.New("is too large")
	}
	return ByteSize(n) * unit, nil
}

// String returns the shortest exact form with a binary unit ("64KiB", "1MiB", "5GiB"), or the
// plain number of bytes when no binary unit divides it ("1500", "0").
func (b ByteSize) String() string {
	if b != 0 {
		for _, u := range []struct {
			size ByteSize
			name string
		}{{tib, "TiB"}, {gib, "GiB"}, {mib, "MiB"}, {kib, "KiB"}} {
			if b%u.size == 0 {
				return strconv.FormatInt(int64(b/u.size), 10) + u.name
			}
		}
	}
	return strconv.FormatInt(int64(b), 10)
}
