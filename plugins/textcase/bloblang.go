package textcase

import (
	"github.com/redpanda-data/benthos/v4/public/bloblang"
)

func init() {
	register("uppercase_unicode", Upper,
		"Converts a string to upper case with full Unicode case mapping, as Spark 4's `upper()` does (ICU, language-neutral): `ß` becomes `SS`, unlike `uppercase()`, which maps one rune at a time.",
		`{"city":"straße"}`, `{"city":"STRASSE"}`, `root.city = this.city.uppercase_unicode()`)
	register("lowercase_unicode", Lower,
		"Converts a string to lower case with full Unicode case mapping, as Spark 4's `lower()` does (ICU, language-neutral).",
		`{"city":"İSTANBUL"}`, `{"city":"i̇stanbul"}`, `root.city = this.city.lowercase_unicode()`)
}

func register(name string, fn func(string) string, desc, in, out, mapping string) {
	spec := bloblang.NewPluginSpec().
		Category("String Manipulation").
		Description(desc).
		Example("", mapping, [2]string{in, out})
	if err := bloblang.RegisterMethodV2(name, spec, func(*bloblang.ParsedParams) (bloblang.Method, error) {
		return bloblang.StringMethod(func(s string) (any, error) { return fn(s), nil }), nil
	}); err != nil {
		panic(err)
	}
}
