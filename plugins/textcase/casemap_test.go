package textcase

import (
	"strings"
	"sync"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
)

func TestUpperFullMapping(t *testing.T) {
	cases := map[string]string{
		"paris":          "PARIS",
		"straße":         "STRASSE", // special casing: one rune becomes two
		"ﬁnance":         "FINANCE", // ligature
		"ǆ":              "Ǆ",
		"i\u0307stanbul": "I\u0307STANBUL", // combining dot kept, as ICU root does
		"":               "",
		"MG":             "MG",
	}
	for in, want := range cases {
		if got := Upper(in); got != want {
			t.Errorf("Upper(%q) = %q, want %q", in, got, want)
		}
	}
	// The reason this package exists: the stdlib maps rune by rune.
	if strings.ToUpper("straße") == Upper("straße") {
		t.Fatal("strings.ToUpper now does full mapping; revisit this package")
	}
}

// Spark 4.2's upper() (ICU) on every code point differed from x/text's
// (Unicode 15) on exactly these 55 lower-case letters of Unicode 16 and 17;
// the capitals are Spark's results.
func TestUpperMapsUnicode16And17AsSpark(t *testing.T) {
	want := map[rune]rune{0x19B: 0xA7DC, 0x264: 0xA7CB, 0x1C8A: 0x1C89, 0xA7CD: 0xA7CC, 0xA7CF: 0xA7CE,
		0xA7D3: 0xA7D2, 0xA7D5: 0xA7D4, 0xA7DB: 0xA7DA}
	for r := rune(0x10D70); r <= 0x10D85; r++ {
		want[r] = r - 0x10D70 + 0x10D50
	}
	for r := rune(0x16EBB); r <= 0x16ED3; r++ {
		want[r] = r - 0x16EBB + 0x16EA0
	}
	if len(want) != 55 {
		t.Fatalf("%d pairs", len(want))
	}
	for lo, up := range want {
		if got := Upper("x" + string(lo) + "ß"); got != "X"+string(up)+"SS" {
			t.Errorf("Upper(x%U ß) = %q, want %q (Spark)", lo, got, "X"+string(up)+"SS")
		}
	}
	if got := Upper("\u1c89ǅ"); got != "\u1c89Ǆ" {
		t.Errorf("a capital stays: %q", got)
	}
}

func TestLower(t *testing.T) {
	if got := Lower("STRASSE Ǆ"); got != "strasse ǆ" {
		t.Fatalf("Lower = %q", got)
	}
}

func TestUpperConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				if got := Upper("straße"); got != "STRASSE" {
					t.Errorf("got %q", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestBloblangMethod(t *testing.T) {
	exe, err := bloblang.Parse(`root = this.city.uppercase_unicode()`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := exe.Query(map[string]any{"city": "straße"})
	if err != nil {
		t.Fatal(err)
	}
	if got != "STRASSE" {
		t.Fatalf("got %v", got)
	}
	if _, err := exe.Query(map[string]any{"city": 12}); err == nil {
		t.Fatal("a non-string city must be an error, not a silent conversion")
	}
}

func BenchmarkUpper(b *testing.B) {
	for _, in := range []string{"paris", "straße"} {
		b.Run(in, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Upper(in)
			}
		})
	}
}
