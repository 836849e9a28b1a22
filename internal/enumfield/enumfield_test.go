package enumfield

import (
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

func parse(t *testing.T, yaml string) *service.ParsedConfig {
	t.Helper()
	spec := service.NewConfigSpec().Field(service.NewObjectField("a",
		service.NewStringEnumField("mode", "none", "sequence", "AES256")))
	conf, err := spec.ParseYAML(yaml, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

func TestReadGivesTheOptionWhateverTheCase(t *testing.T) {
	opts := []string{"none", "sequence", "AES256"}
	for value, want := range map[string]string{"sequence": "sequence", "SEQUENCE": "sequence", "Sequence": "sequence", "aes256": "AES256"} {
		got, err := Read(parse(t, "a: { mode: "+value+" }"), opts, "a", "mode")
		if err != nil || got != want {
			t.Errorf("Read(%q) = %q, %v; want %q", value, got, err, want)
		}
	}
}

func TestReadNamesTheFieldOfAnUnknownValue(t *testing.T) {
	_, err := Read(parse(t, "a: { mode: exactly_once }"), []string{"none", "sequence"}, "a", "mode")
	if err == nil || !strings.Contains(err.Error(), `a.mode: "exactly_once" is not one of none, sequence`) {
		t.Fatalf("Read = %v, want an error naming a.mode and the options", err)
	}
}
