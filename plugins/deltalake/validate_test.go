package deltalake

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

func newValidator(t *testing.T) service.BatchProcessor {
	t.Helper()
	conf, err := validateSpec().ParseYAML(strings.ReplaceAll(schemaYAML, "\n  ", "\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := schemaFromParsed(conf)
	if err != nil {
		t.Fatal(err)
	}
	return &validator{schema: s}
}

func TestValidateMarksBadRowsAndPassesThem(t *testing.T) {
	v := newValidator(t)
	good := service.NewMessage([]byte(`{"city":"PARIS","cnt":3,"revenue":1.5}`))
	wrongType := service.NewMessage([]byte(`{"city":"PARIS","cnt":"3"}`))
	missing := service.NewMessage([]byte(`{"revenue":1.5,"cnt":1}`))
	notJSON := service.NewMessage([]byte(`city=PARIS`))
	unknown := service.NewMessage([]byte(`{"city":"PARIS","cnt":1,"colour":"red"}`))
	already := service.NewMessage([]byte(`garbage`))
	already.SetError(errors.New("late_row"))
	already.MetaSetMut("dlq_reason", "late_row")
	out, err := v.ProcessBatch(context.Background(), service.MessageBatch{good, wrongType, missing, notJSON, unknown, already})
	if err != nil || len(out) != 1 || len(out[0]) != 6 {
		t.Fatalf("every message must be passed on: %v, %v", out, err)
	}
	if good.GetError() != nil {
		t.Fatalf("valid row errored: %v", good.GetError())
	}
	for _, c := range []struct {
		msg    *service.Message
		reason string
		names  string
	}{
		{wrongType, "schema_mismatch", `"cnt"`},
		{missing, "schema_mismatch", `"city"`},
		{notJSON, "bad_json", "JSON"},
		{unknown, "schema_mismatch", `"colour"`},
		{already, "late_row", "late_row"},
	} {
		if c.msg.GetError() == nil || !strings.Contains(c.msg.GetError().Error(), c.names) {
			t.Errorf("error %v does not name %s", c.msg.GetError(), c.names)
		}
		if r, _ := c.msg.MetaGet("dlq_reason"); r != c.reason {
			t.Errorf("dlq_reason = %q, want %q", r, c.reason)
		}
	}
}
