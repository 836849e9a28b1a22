package main

import (
	"net"
	"os"
)

// instanceIDEnv is the variable config/rides.yaml takes the kafka_franz
// instance_id (static group membership, KIP-345) from.
const instanceIDEnv = "KAFKA_INSTANCE_ID"

// defaultInstanceID sets KAFKA_INSTANCE_ID to the host name when it is not
// set at all, so a restarted process rejoins its consumer group as the same
// static member and gets its partitions back at once. The host name is the
// pod name in Kubernetes and the container ID in Docker; Benthos' ${A:${B}}
// does not nest, so the config cannot fall back to $HOSTNAME itself. With
// HTTP_ADDRESS set, its port is appended: replicas on one host must listen on
// different ports, so they get different IDs (one ID shared by two live
// members would fence them in turn), each stable across its restarts. Set
// KAFKA_INSTANCE_ID to an empty value for dynamic membership.
func defaultInstanceID(lookup func(string) (string, bool), set func(string, string) error, hostname func() (string, error)) error {
	if _, ok := lookup(instanceIDEnv); ok {
		return nil
	}
	h, err := hostname()
	if err != nil || h == "" {
		return nil // no host name: dynamic membership, as before
	}
	if addr, ok := lookup("HTTP_ADDRESS"); ok {
		if _, port, err := net.SplitHostPort(addr); err == nil && port != "" {
			h += "-" + port
		}
	}
	return set(instanceIDEnv, h)
}

func setDefaultInstanceID() {
	_ = defaultInstanceID(os.LookupEnv, os.Setenv, os.Hostname)
}
