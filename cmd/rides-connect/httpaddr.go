package main

import (
	"fmt"
	"net"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// checkHTTPAddress refuses an http.address Benthos cannot listen on
// (HTTP_ADDRESS=localhost, no port): Benthos logs the listen error and runs
// on without /metrics and /ready, so the pod never becomes ready and nothing
// says why at start.
func checkHTTPAddress(conf *service.ParsedConfig) error {
	if !conf.Contains("http", "address") {
		return nil
	}
	if enabled, err := conf.FieldBool("http", "enabled"); err == nil && !enabled {
		return nil
	}
	addr, err := conf.FieldString("http", "address")
	if err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("http.address: %q is not host:port, e.g. 0.0.0.0:4195", addr)
	}
	return nil
}
