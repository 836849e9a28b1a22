package typed

import (
	"fmt"
	"strconv"
	"testing"
)

// BenchmarkParse: the core alone on seed-shaped rides (op = ride), on the
// fast path (fastjson) and on the slow path (encoding/json) that takes
// records with \u escapes or invalid UTF-8.
//
//	go test ./plugins/fromjson/typed/ -run '^$' -bench Parse -benchmem
func BenchmarkParse(b *testing.B) {
	p := mustParser(b, ridesFields())
	// The seed producer's cities: a few values, lower case.
	cities := []string{"paris", "lyon", "marseille", "toulouse", "nice", "nantes", "lille", "bordeaux"}
	// seed_ts: milliseconds as the seed producer writes them (3 digits, so a
	// tenth of them end in 0 and are not in the output form).
	for _, c := range []struct {
		name, prefix, ms string
		longDoubles      bool // distanceKm with 17 significant digits, as Python's repr writes a random double
	}{{"fast", "", "123", false}, {"fast_seed_ts", "", "", false}, {"fast_long_doubles", "", "123", true}, {"slow_u_escape", `\u0066r`, "123", false}} {
		in := make([][]byte, 1024)
		for i := range in {
			ms := c.ms
			if ms == "" {
				ms = fmt.Sprintf("%03d", i*7%1000)
			}
			dist := fmt.Sprintf("%d.25", 5+i%20)
			if c.longDoubles {
				dist = strconv.FormatFloat(5+float64(i)*0.0192837465019283, 'g', -1, 64)
			}
			in[i] = fmt.Appendf(nil, `{"rideId":%d,"userId":%d,"city":"%s%s","distanceKm":%s,"price":%d.5,"ts":"2026-03-14T08:%02d:%02d.%sZ"}`,
				100000+i, i%977, c.prefix, cities[i%len(cities)], dist, 3+i%40, i/60%60, i%60, ms)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := p.Parse(in[i%len(in)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseDouble: one distanceKm-shaped literal (17 significant
// digits, Python's repr of a random double) through parseDouble and through
// strconv.ParseFloat, which parseDouble used to fall back to for these.
func BenchmarkParseDouble(b *testing.B) {
	in := make([][]byte, 1024)
	for i := range in {
		in[i] = strconv.AppendFloat(nil, 5+float64(i)*0.0192837465019283, 'g', -1, 64)
	}
	b.Run("long_doubles", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, ok := parseDouble(in[i%len(in)]); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("long_doubles_strconv", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := strconv.ParseFloat(string(in[i%len(in)]), 64); err != nil {
				b.Fatal(err)
			}
		}
	})
}
