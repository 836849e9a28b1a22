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
	return c.String(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
