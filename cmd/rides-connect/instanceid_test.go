package main

import (
	"errors"
	"testing"
)

func TestDefaultInstanceID(t *testing.T) {
	host := func() (string, error) { return "rides-connect-0", nil }
	for _, c := range []struct {
		name      string
		env       map[string]string
		hostname  func() (string, error)
		want      string
		wantIsSet bool
	}{
		{"unset: the host name", map[string]string{}, host, "rides-connect-0", true},
		{"unset, with HTTP_ADDRESS: host name and port", map[string]string{"HTTP_ADDRESS": "127.0.0.1:4197"}, host, "rides-connect-0-4197", true},
		{"set: kept", map[string]string{instanceIDEnv: "job-a"}, host, "job-a", true},
		{"set empty: dynamic membership kept", map[string]string{instanceIDEnv: ""}, host, "", true},
		{"no host name: left unset", map[string]string{}, func() (string, error) { return "", errors.New("no uts") }, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
			set := func(k, v string) error { c.env[k] = v; return nil }
			if err := defaultInstanceID(lookup, set, c.hostname); err != nil {
				t.Fatal(err)
			}
			got, ok := c.env[instanceIDEnv]
			if got != c.want || ok != c.wantIsSet {
				t.Fatalf("%s = %q (set %v), want %q (set %v)", instanceIDEnv, got, ok, c.want, c.wantIsSet)
			}
		})
	}
}
