package typed

import (
	"fmt"
	"testing"
)

// fastAndSlow parses rec on both paths; handled says the fast path took it.
func fastAndSlow(p *Parser, rec []byte) (handled bool, fast, slow string) {
	sc := p.scratch.Get().(*scratch)
	defer p.scratch.Put(sc)
	handled, ferr := p.fast(sc, rec)
	var fm map[string]any
	if handled && ferr == nil {
		fm, ferr = p.convert(sc)
	}
	serr := p.slow(sc, rec)
	var sm map[string]any
	if serr == nil {
		sm, serr = p.convert(sc)
	}
	return handled, fmt.Sprintf("%#v %v", fm, ferr), fmt.Sprintf("%#v %v", sm, serr)
}

// The one-pass scanner takes strict JSON only: each of these is refused by
// encoding/json, so the fast path must leave it to the slow one.
func TestScannerLeavesInvalidJSONToTheSlowPath(t *testing.T) {
	p := mustParser(t, ridesFields())
	for _, rec := range []string{
		``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,"a":1}`, `{"a":1}x`, `{"a":1}{}`,
		`{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":1e+}`, `{"a":+1}`, `{"a":0x1}`,
		`{"a":tru}`, `{"a":nul}`, `{"a":True}`, `{"a":"x\q"}`, "{\"a\":\"x\ty\"}", `{"a":"x}`,
		`{"a":[1,]}`, `{"a":[,1]}`, `{"a":{"b"}}`, `{"a":{"b":1,}}`, `{'a':1}`, `{"a":1 "b":2}`,
		"{\"city\":\"\xff\"}", "\xef\xbb\xbf{}", `{"a":NaN}`, `{"a":Infinity}`,
	} {
		if handled, fast, slow := fastAndSlow(p, []byte(rec)); handled {
			t.Errorf("%q: taken by the fast path (%s), slow gives %s", rec, fast, slow)
		}
	}
}

// Whatever the fast path takes, it reads as the slow path (encoding/json).
func FuzzFastAndSlowPathsAgree(f *testing.F) {
	for _, s := range []string{
		`{"rideId":42,"userId":7,"city":"fr","distanceKm":12.5,"price":18.4,"ts":"2026-03-14T08:58:43.498Z"}`,
		`{"rideId":1e2,"userId":-0,"city":"a\"b\\c\/d\b\f\n\r\t","distanceKm":1e-400,"price":-0,"ts":" 2026-03-14 08:00:00 "}`,
		`{"rideId":1,"x":[1,{"y":[true,false,null,"s",-1.5E+3]}],"city":"ǆ","ts":"2026-03-14T08:00:00Z"}`,
		` [ 1 , "a" ] `, `"x"`, `{}`, `{"a":{}}`, `{"a":[]}`, `{"rideId":0.0,"price":1E400}`,
	} {
		f.Add([]byte(s))
	}
	p := mustParser(f, ridesFields())
	f.Fuzz(func(t *testing.T, rec []byte) {
		if handled, fast, slow := fastAndSlow(p, rec); handled && fast != slow {
			t.Errorf("%q:\nfast %s\nslow %s", rec, fast, slow)
		}
	})
}
