package deploy

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// crdSchema is the openAPIV3Schema of one version of a CustomResourceDefinition.
type crdSchema map[string]any

// loadCRDSchema reads a CRD file and returns the schema of its served
// version named version.
func loadCRDSchema(file, version string) (crdSchema, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &crd); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name == version {
			return v.Schema.OpenAPIV3Schema, nil
		}
	}
	return nil, fmt.Errorf("%s: no version %s", file, version)
}

// validate checks a decoded object against the structural schema as the
// API server's schema validation does: types, unknown fields (pruned by the
// server, so a typo would be dropped silently: refused here), required
// fields, enums, minimums, patterns. CEL rules (x-kubernetes-validations)
// are not evaluated; the callers check the ones that matter by hand.
func (s crdSchema) validate(obj any) []string {
	var errs []string
	validateNode(map[string]any(s), obj, "", &errs)
	sort.Strings(errs)
	return errs
}

func validateNode(s map[string]any, v any, path string, errs *[]string) {
	fail := func(format string, a ...any) { *errs = append(*errs, path+": "+fmt.Sprintf(format, a...)) }
	if s["x-kubernetes-preserve-unknown-fields"] == true && s["properties"] == nil {
		return
	}
	if s["x-kubernetes-int-or-string"] == true {
		switch x := v.(type) {
		case string:
		case float64:
			if x != math.Trunc(x) {
				fail("%v is neither an integer nor a string", x)
			}
		default:
			fail("%T is neither an integer nor a string", v)
		}
		return
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			fail("want an object, got %T", v)
			return
		}
		props, _ := s["properties"].(map[string]any)
		addl, _ := s["additionalProperties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := m[r.(string)]; !ok {
				fail("required field %s missing", r)
			}
		}
		for k, x := range m {
			switch {
			case props[k] != nil:
				validateNode(props[k].(map[string]any), x, path+"."+k, errs)
			case addl != nil:
				validateNode(addl, x, path+"."+k, errs)
			case props != nil:
				fail("unknown field %s (the API server would drop it)", k)
			}
		}
	case "array":
		l, ok := v.([]any)
		if !ok {
			fail("want an array, got %T", v)
			return
		}
		if n, ok := s["minItems"].(float64); ok && float64(len(l)) < n {
			fail("%d items, at least %v required", len(l), n)
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range l {
				validateNode(items, x, fmt.Sprintf("%s[%d]", path, i), errs)
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			fail("want a string, got %T (%v): quote it", v, v)
			return
		}
		if n, ok := s["minLength"].(float64); ok && float64(len(str)) < n {
			fail("%q is shorter than %v", str, n)
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			fail("%q does not match %s", str, p)
		}
	case "integer", "number":
		n, ok := v.(float64)
		if !ok || (s["type"] == "integer" && n != math.Trunc(n)) {
			fail("want an %s, got %T (%v)", s["type"], v, v)
			return
		}
		if min, ok := s["minimum"].(float64); ok && n < min {
			fail("%v is below the minimum %v", n, min)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			fail("want a boolean, got %T (%v)", v, v)
		}
	}
	if enum := asList(s["enum"]); len(enum) > 0 && !slices.Contains(enum, v) {
		fail("%v is not one of %v", v, enum)
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// yamlDocs splits a multi-document YAML file into objects (comment-only
// documents skipped).
func yamlDocs(b []byte) ([]map[string]any, error) {
	var out []map[string]any
	for _, doc := range strings.Split("\n"+string(b), "\n---") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, err
		}
		if m != nil {
			out = append(out, m)
		}
	}
	return out, nil
}

func yamlMarshal(v any) ([]byte, error)   { return yaml.Marshal(v) }
func yamlUnmarshal(b []byte, v any) error { return yaml.Unmarshal(b, v) }
