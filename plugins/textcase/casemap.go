// Package textcase gives bloblang the full Unicode case mapping Spark 4 uses for
// upper()/lower() (ICU), where bloblang's uppercase() maps rune by rune
// ("straße" stays "STRAßE" instead of "STRASSE").
package textcase

import (
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// A cases.Caser keeps state between calls and must not be shared between
// goroutines, hence one pool per mapping.
var (
	upperPool = sync.Pool{New: func() any { c := cases.Upper(language.Und); return &c }}
	lowerPool = sync.Pool{New: func() any { c := cases.Lower(language.Und); return &c }}
)

// Upper returns s with full Unicode upper-case mapping (special casing
// included: "ß" → "SS", "ŉ" → "ʼN"), language-neutral like Spark's default.
func Upper(s string) string { return mapWith(&upperPool, s, strings.ToUpper) }

// Lower returns s with full Unicode lower-case mapping, language-neutral.
func Lower(s string) string { return mapWith(&lowerPool, s, strings.ToLower) }

func mapWith(pool *sync.Pool, s string, ascii func(string) string) string {
	if isASCII(s) {
		// Same result as the full mapping, without the caser's allocations.
		return ascii(s)
	}
	c := pool.Get().(*cases.Caser)
	defer pool.Put(c)
	out := c.String(s)
	if pool == &upperPool && hasUpperSince16(out) {
		out = strings.Map(upperSince16, out)
	}
	return out
}

// upperSince16 maps the lower-case letters that Unicode 16 and 17 added or
// newly paired with a capital (Latin ƛ ɤ and Extended-D, Cyrillic tje,
// Garay, Beria Erfe): golang.org/x/text's tables (Unicode 15) leave them as
// they are, Spark 4.2's upper() (ICU) maps them. Found by running Upper and
// Spark's upper on every code point (red team, 4 Dec 2026): these 55 were the
// only differences. Any other rune is returned as it is.
func upperSince16(r rune) rune {
	switch {
	case r >= 0x10D70 && r <= 0x10D85: // Garay small letters
		return r - 0x20
	case r >= 0x16EBB && r <= 0x16ED3: // Beria Erfe small letters
		return r - 0x1B
	}
	switch r {
	case 0x019B:
		return 0xA7DC
	case 0x0264:
		return 0xA7CB
	case 0x1C8A:
		return 0x1C89
	case 0xA7CD, 0xA7CF, 0xA7D3, 0xA7D5, 0xA7DB:
		return r - 1
	}
	return r
}

func hasUpperSince16(s string) bool {
	for _, r := range s {
		if r >= 0x019B && upperSince16(r) != r {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
