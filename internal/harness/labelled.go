package harness

// FindLabelled returns the first object of a decoded YAML/JSON document
// (maps and slices of any depth) whose `label` is label, or nil: how tests
// find a component of a shipped config (config/rides.yaml) by its label.
func FindLabelled(v any, label string) map[string]any {
	switch t := v.(type) {
	case map[string]any:
		if t["label"] == label {
			return t
		}
		for _, c := range t {
			if n := FindLabelled(c, label); n != nil {
				return n
			}
		}
	case []any:
		for _, c := range t {
			if n := FindLabelled(c, label); n != nil {
				return n
			}
		}
	}
	return nil
}
