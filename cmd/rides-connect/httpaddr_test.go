package main

import (
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

func httpConf(t *testing.T, yaml string) *service.ParsedConfig {
	t.Helper()
	spec := service.NewConfigSpec().Field(service.NewObjectField("http",
		service.NewStringField("address").Default("0.0.0.0:4195"),
		service.NewBoolField("enabled").Default(true)))
	conf, err := spec.ParseYAML(yaml, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

// Benthos logged the listen error and ran on without /ready.
func TestAnHTTPAddressWithoutPortIsRefused(t *testing.T) {
	for _, a := range []string{"localhost", "4195", "http://0.0.0.0:4195"} {
		if err := checkHTTPAddress(httpConf(t, "http: { address: \""+a+"\" }")); err == nil || !strings.Contains(err.Error(), "http.address") {
			t.Errorf("address %q: got %v, want http.address refused", a, err)
		}
	}
	for _, y := range []string{"http: { address: 0.0.0.0:4195 }", "http: { address: \"127.0.0.1:0\" }", "http: { address: \":4195\" }", "http: { enabled: false, address: x }", "{}"} {
		if err := checkHTTPAddress(httpConf(t, y)); err != nil {
			t.Errorf("%s refused: %v", y, err)
		}
	}
}
