// Package metaswitch is the metadata_switch processor: a switch that routes
// each message by the value of one metadata key, compared as a string,
// instead of evaluating a Bloblang check per message. It exists for the
// scale-out config, whose two stages share one pipeline and are told apart
// by kafka_topic: the `switch` processor's per-message check, sort group
// and spans cost about a tenth of the CPU of a ride there
// (docs/scale-out.md, "Cost").
package metaswitch
