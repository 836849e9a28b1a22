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
