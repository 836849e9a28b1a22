package kafkafranz

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// The input's `transaction` object (not a Redpanda Connect field).
const (
	fieldTxn             = "transaction"
	fieldTxnEnabled      = "enabled"
	fieldTxnID           = "id"
	fieldTxnTimeout      = "timeout"
	fieldTxnCommitPeriod = "commit_period"
	fieldTxnMaxMsgBytes  = "max_message_bytes"
)

func txnInputField() *service.ConfigField {
	return service.NewObjectField(fieldTxn,
		service.NewBoolField(fieldTxnEnabled).
			Description("Consume in Kafka transactions: records that `kafka_franz` outputs with `transaction.input` naming this input's label produce, and the offsets of the records acked downstream, commit together or not at all (exactly once from Kafka to Kafka). Requires `consumer_group`.").
			Default(false).Example(true),
		service.NewStringField(fieldTxnID).
			Description("Transactional id (Java `transactional.id`). Empty: `<consumer_group>-<instance_id>`, or `<consumer_group>-<host name>` without `instance_id`. Each replica needs its own, stable across its restarts: a new session with the same id aborts the previous one's open transaction and fences it.").
			Default("").Example("rides-agg-0"),
		service.NewDurationField(fieldTxnTimeout).
			Description("Transaction timeout (Java `transaction.timeout.ms`): the broker aborts a transaction left open longer, e.g. by a crashed replica that does not come back.").
			Default("1m").Example("30s"),
		service.NewDurationField(fieldTxnCommitPeriod).
			Description("How long a transaction gathers batches before it ends. It then ends once every batch handed out in it is acked: no new batch is handed out meanwhile. Longer periods mean fewer commits and more work redone after an abort.").
			Default("1s").Example("200ms"),
		service.NewStringField(fieldTxnMaxMsgBytes).
			Description("Largest record the outputs in this input's transactions may produce (its client's `ProducerBatchMaxBytes`), e.g. `8MiB`; the topics they write need a `max.message.bytes` at least as large. Empty: franz-go's default, 1 000 012 bytes, Kafka's default `max.message.bytes`. The scale-out window's stage-2 state is one record per internal partition: its size grows with the number of open (window, key) pairs.").
			Default("").Example("8MiB"),
	).Description("Exactly-once consume -> process -> produce (see Delivery guarantees).").Advanced()
}

// txnLintChecks are the input's lint rules for `transaction`.
var txnLintChecks = []lintCheck{
	{`this.transaction.enabled.or(false) && this.consumer_group.or("") == ""`,
		"transaction.enabled: requires a consumer_group"},
	{`this.transaction.enabled.or(false) && this.transaction.commit_period.or("1s").parse_duration() < 10000000`,
		"transaction.commit_period: must be at least 10ms"},
	{`this.transaction.enabled.or(false) && this.transaction.commit_period.or("1s").parse_duration() >= this.transaction.timeout.or("1m").parse_duration()`,
		"transaction.commit_period: must be below transaction.timeout"},
}

// txnFromParsed returns the transaction settings, nil when off.
func txnFromParsed(conf *service.ParsedConfig, cc franz.ConsumerConfig) (*franz.TxnConfig, time.Duration, error) {
	if !conf.Contains(fieldTxn) {
		return nil, 0, nil
	}
	f := &fields{conf: conf}
	enabled := f.boolean(fieldTxn, fieldTxnEnabled)
	id := f.str(fieldTxn, fieldTxnID)
	timeout := f.duration(fieldTxn, fieldTxnTimeout)
	period := f.duration(fieldTxn, fieldTxnCommitPeriod)
	maxBytesStr := f.str(fieldTxn, fieldTxnMaxMsgBytes)
	if f.err != nil || !enabled {
		return nil, 0, f.err
	}
	maxBytes, err := parseBytes(fieldTxn+"."+fieldTxnMaxMsgBytes, maxBytesStr)
	if err != nil {
		return nil, 0, err
	}
	if maxBytes != 0 && (maxBytes < 512 || maxBytes > 1<<30) {
		return nil, 0, fmt.Errorf("%s.%s: %q must be between 512B and 1GiB", fieldTxn, fieldTxnMaxMsgBytes, maxBytesStr)
	}
	switch {
	case cc.Group == "":
		return nil, 0, fmt.Errorf("%s.%s: requires a %s", fieldTxn, fieldTxnEnabled, fieldConsumerGroup)
	case period < 10*time.Millisecond:
		return nil, 0, fmt.Errorf("%s.%s: must be at least 10ms, got %v", fieldTxn, fieldTxnCommitPeriod, period)
	case period >= timeout:
		return nil, 0, fmt.Errorf("%s.%s: %v must be below %s.%s %v", fieldTxn, fieldTxnCommitPeriod, period, fieldTxn, fieldTxnTimeout, timeout)
	}
	if id == "" {
		suffix := cc.InstanceID
		if suffix == "" {
			host, err := os.Hostname()
			if err != nil {
				return nil, 0, fmt.Errorf("%s.%s: empty and the host name is unknown (%v): set it", fieldTxn, fieldTxnID, err)
			}
			suffix = host
		}
		id = cc.Group + "-" + suffix
	}
	return &franz.TxnConfig{ID: id, Timeout: timeout, MaxMessageBytes: maxBytes}, period, nil
}

// txnRegistryKey finds, among a stream's resources, the transactional input
// with a label, for the outputs that produce in its transactions.
type txnRegistryKey struct{ label string }

// txnHandle links outputs to a transactional input; whichever of them is
// built first creates it.
type txnHandle struct {
	mu   sync.Mutex
	cons *franz.Consumer
	// endSoon asks the input to end its open transaction without waiting
	// for the rest of commit_period (an output's end_early_on_metadata).
	endSoon chan struct{}
}

func txnHandleFor(mgr *service.Resources, label string) *txnHandle {
	h, _ := mgr.GetOrSetGeneric(txnRegistryKey{label}, &txnHandle{endSoon: make(chan struct{}, 1)})
	return h.(*txnHandle)
}

// requestEnd asks for the open transaction to end as soon as every batch
// handed out in it is acked; requests before that merge into one.
func (h *txnHandle) requestEnd() {
	select {
	case h.endSoon <- struct{}{}:
	default:
	}
}

func (h *txnHandle) set(c *franz.Consumer) {
	h.mu.Lock()
	h.cons = c
	h.mu.Unlock()
}

func (h *txnHandle) consumer() *franz.Consumer {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cons
}

var errTxnLabel = errors.New("transaction.enabled: the input needs a label, which outputs name in transaction.input")
