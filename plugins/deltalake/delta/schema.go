package delta

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Type is a Delta primitive type name as in schemaString: string, long,
// integer, short, byte, double, float, boolean, binary, date, timestamp or
// decimal(p,s).
type Type struct {
	Name      string // "decimal" for decimals
	Precision int    // decimal only
	Scale     int    // decimal only
}

func (t Type) String() string {
	if t.Name == "decimal" {
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	}
	return t.Name
}

var primitives = map[string]bool{
	"string": true, "long": true, "integer": true, "short": true, "byte": true,
	"double": true, "float": true, "boolean": true, "binary": true,
	"date": true, "timestamp": true,
}

var decimalRe = regexp.MustCompile(`^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$`)

// ParseType parses a type name (case-insensitive; "int" and "bigint" are
// accepted as aliases).
func ParseType(s string) (Type, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	switch n {
	case "int":
		n = "integer"
	case "bigint":
		n = "long"
	case "tinyint":
		n = "byte"
	case "smallint":
		n = "short"
	case "decimal":
		n = "decimal(10,0)"
	}
	if primitives[n] {
		return Type{Name: n}, nil
	}
	if m := decimalRe.FindStringSubmatch(n); m != nil {
		p, _ := strconv.Atoi(m[1])
		sc, _ := strconv.Atoi(m[2])
		if p < 1 || p > 38 || sc > p {
			return Type{}, fmt.Errorf("decimal(%d,%d): precision must be 1..38 and scale <= precision", p, sc)
		}
		return Type{Name: "decimal", Precision: p, Scale: sc}, nil
	}
	return Type{}, fmt.Errorf("unsupported type %q; want string, long, integer, short, byte, double, float, boolean, binary, date, timestamp or decimal(p,s)", s)
}

// Field is one top-level column.
type Field struct {
	Name     string
	Type     Type
	Nullable bool
}

// Schema is a flat struct schema (nested types are not supported).
type Schema struct {
	Fields []Field
}

// Index returns the position of a column (case-insensitive) or -1.
func (s Schema) Index(name string) int {
	for i, f := range s.Fields {
		if strings.EqualFold(f.Name, name) {
			return i
		}
	}
	return -1
}

// Validate checks names are present and unique case-insensitively.
func (s Schema) Validate() error {
	if len(s.Fields) == 0 {
		return fmt.Errorf("schema has no columns")
	}
	seen := map[string]bool{}
	for i, f := range s.Fields {
		if f.Name == "" {
			return fmt.Errorf("column %d has no name", i)
		}
		k := strings.ToLower(f.Name)
		if seen[k] {
			return fmt.Errorf("column %q is defined twice (names are case-insensitive)", f.Name)
		}
		seen[k] = true
	}
	return nil
}

type jsonField struct {
	Name     string          `json:"name"`
	Type     json.RawMessage `json:"type"`
	Nullable bool            `json:"nullable"`
	Metadata map[string]any  `json:"metadata"`
}

type jsonStruct struct {
	Type   string      `json:"type"`
	Fields []jsonField `json:"fields"`
}

// SchemaString renders the Spark JSON schema stored in metaData.schemaString.
func (s Schema) SchemaString() string {
	js := jsonStruct{Type: "struct", Fields: []jsonField{}}
	for _, f := range s.Fields {
		t, _ := json.Marshal(f.Type.String())
		js.Fields = append(js.Fields, jsonField{Name: f.Name, Type: t, Nullable: f.Nullable, Metadata: map[string]any{}})
	}
	b, _ := json.Marshal(js)
	return string(b)
}

// ParseSchemaString reads a schemaString; nested or unknown types are an
// error naming the column.
func ParseSchemaString(s string) (Schema, error) {
	var js jsonStruct
	if err := json.Unmarshal([]byte(s), &js); err != nil {
		return Schema{}, fmt.Errorf("schemaString: %w", err)
	}
	if js.Type != "struct" {
		return Schema{}, fmt.Errorf("schemaString: top-level type %q, want struct", js.Type)
	}
	var out Schema
	for _, f := range js.Fields {
		var name string
		if err := json.Unmarshal(f.Type, &name); err != nil {
			return Schema{}, fmt.Errorf("column %q has a nested type, which this writer does not support", f.Name)
		}
		t, err := ParseType(name)
		if err != nil {
			return Schema{}, fmt.Errorf("column %q: %w", f.Name, err)
		}
		if _, ok := f.Metadata["delta.invariants"]; ok {
			// Writer v2 must enforce invariants; we do not evaluate SQL.
			return Schema{}, fmt.Errorf("column %q has a delta.invariants constraint, which this writer cannot enforce", f.Name)
		}
		out.Fields = append(out.Fields, Field{Name: f.Name, Type: t, Nullable: f.Nullable})
	}
	return out, nil
}

// CompareSchemas checks that the configured schema matches the table's.
// With evolve, columns missing from the table may be added if nullable; the
// returned schema is then the table's plus the new columns.
func CompareSchemas(table, conf Schema, evolve bool) (Schema, error) {
	var problems []string
	for _, tf := range table.Fields {
		i := conf.Index(tf.Name)
		if i < 0 {
			if !tf.Nullable {
				problems = append(problems, fmt.Sprintf("table column %q (%s, not null) is missing from the config", tf.Name, tf.Type))
			}
			continue
		}
		cf := conf.Fields[i]
		if cf.Type != tf.Type {
			problems = append(problems, fmt.Sprintf("column %q is %s in the table but %s in the config", tf.Name, tf.Type, cf.Type))
		}
		if cf.Nullable && !tf.Nullable {
			problems = append(problems, fmt.Sprintf("column %q is not null in the table but nullable in the config", tf.Name))
		}
	}
	merged := Schema{Fields: append([]Field(nil), table.Fields...)}
	for _, cf := range conf.Fields {
		if table.Index(cf.Name) >= 0 {
			continue
		}
		switch {
		case !evolve:
			problems = append(problems, fmt.Sprintf("column %q is in the config but not in the table (enable schema_evolution to add nullable columns)", cf.Name))
		case !cf.Nullable:
			problems = append(problems, fmt.Sprintf("new column %q must be nullable to be added to an existing table", cf.Name))
		default:
			merged.Fields = append(merged.Fields, cf)
		}
	}
	if len(problems) > 0 {
		return Schema{}, fmt.Errorf("schema mismatch: %s", strings.Join(problems, "; "))
	}
	return merged, nil
}
