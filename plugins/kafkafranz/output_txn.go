package kafkafranz

import (
	"context"
	"fmt"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/clicmd"
	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// The output's `transaction` object (not a Redpanda Connect field).
const (
	fieldOutTxn         = "transaction"
	fieldOutTxnInput    = "input"
	fieldOutTxnEndEarly = "end_early_on_metadata"
)

func txnOutputField() *service.ConfigField {
	return service.NewObjectField(fieldOutTxn,
		service.NewStringField(fieldOutTxnInput).
			Description("Label of a `kafka_franz` input of the same config with `transaction.enabled: true`. Records are produced through that input's client, in its open transaction, and commit with the consumed offsets (or are aborted with them). A write returns once its records are handed to the transaction, without waiting for the brokers: the input flushes them before it commits, and aborts the transaction if any failed.").
			Example("rides_in"),
		service.NewStringField(fieldOutTxnEndEarly).
			Description("A metadata key. Once this output has written a message on which it is set (not empty), the input ends its open transaction as soon as every batch handed out in it is acked, without waiting for the rest of its `commit_period`: consumers reading `read_committed` see the message sooner. Empty: transactions end on the period alone. The scale-out window's stage 1 sets `window_watermark_advanced` on the markers that move their partition's watermark past a window end, the only ones that can let stage 2 close a window.").
			Default("").Example("window_watermark_advanced"),
	).Description("Produce in the transaction of a transactional `kafka_franz` input: exactly once from that input to this output, for consumers reading with `transaction_isolation_level: read_committed`. " +
		"The output then uses the input's client: its own `seed_brokers`, `tls`, `sasl`, `compression`, `idempotent_write` and `ack_replicas` are not used, and `partitioner` must be `murmur2_hash` or `manual`.").
		Optional().Advanced()
}

var txnOutputLintChecks = []lintCheck{
	{`this.transaction.input.or("") == "" && this.exists("transaction")`,
		"transaction.input: must name the label of a transactional kafka_franz input"},
	{`this.transaction.input.or("") != "" && ["round_robin", "least_backup"].contains(this.partitioner.or("murmur2_hash"))`,
		"partitioner: must be murmur2_hash or manual with transaction.input (the input's client hashes keys like murmur2_hash)"},
	{`this.transaction.input.or("") != "" && this.idempotency.consumer_group.or("") != ""`,
		"idempotency: not needed with transaction.input (the transaction already writes each record once); remove one"},
}

// txnFromParsedOutput returns the handle of the input named by
// transaction.input, nil when the field is absent.
func txnFromParsedOutput(conf *service.ParsedConfig, mgr *service.Resources, pc franz.ProducerConfig, idem *idempotency) (*txnHandle, string, error) {
	if !conf.Contains(fieldOutTxn) {
		return nil, "", nil
	}
	label, err := conf.FieldString(fieldOutTxn, fieldOutTxnInput)
	if err != nil {
		return nil, "", err
	}
	switch {
	case label == "":
		return nil, "", fmt.Errorf("%s.%s: must name the label of a transactional kafka_franz input", fieldOutTxn, fieldOutTxnInput)
	case pc.Partitioner != "" && pc.Partitioner != "murmur2_hash" && pc.Partitioner != "manual":
		return nil, "", fmt.Errorf("%s: must be murmur2_hash or manual with %s.%s, got %s", fieldPartitioner, fieldOutTxn, fieldOutTxnInput, pc.Partitioner)
	case idem != nil:
		return nil, "", fmt.Errorf("%s: not needed with %s.%s; remove one", fieldIdempotency, fieldOutTxn, fieldOutTxnInput)
	}
	return txnHandleFor(mgr, label), label, nil
}

// txnEndEarlyFromParsed is transaction.end_early_on_metadata ("" when unset).
func txnEndEarlyFromParsed(conf *service.ParsedConfig) (string, error) {
	if !conf.Contains(fieldOutTxn, fieldOutTxnEndEarly) {
		return "", nil
	}
	return conf.FieldString(fieldOutTxn, fieldOutTxnEndEarly)
}

// endTxnEarly asks the input to end its transaction soon when a message of
// the batch just produced carries transaction.end_early_on_metadata.
func (w *writer) endTxnEarly(batch service.MessageBatch) {
	if w.txn == nil || w.txnEndKey == "" {
		return
	}
	for _, msg := range batch {
		if v, ok := msg.MetaGetMut(w.txnEndKey); ok && v != nil && v != "" {
			w.txn.requestEnd()
			return
		}
	}
}

// txnConsumer is the transactional input this output produces through, or
// an error naming the field when the config has none with that label.
func (w *writer) txnConsumer() (*franz.Consumer, error) {
	cons := w.txn.consumer()
	if cons == nil {
		return nil, fmt.Errorf("%s.%s: no kafka_franz input labelled %q with transaction.enabled: true in this config", fieldOutTxn, fieldOutTxnInput, w.txnLabel)
	}
	return cons, nil
}

// connectTxn checks the input exists, is connected, and a static topic is
// there (created per create_topic), through the input's client.
func (w *writer) connectTxn(ctx context.Context) error {
	cons, err := w.txnConsumer()
	if err != nil {
		// Benthos builds a stream's input before its outputs: an input
		// missing now never comes, and every write would fail forever.
		w.log.Error(err.Error())
		clicmd.Abort(ExitCodeBadConfig, err)
		return service.NewErrBackOff(err, time.Minute)
	}
	cl, err := awaitInputClient(ctx, cons)
	if err != nil {
		return err
	}
	if w.checked || w.staticTopic == "" {
		return nil
	}
	if err := w.ensureTopicWith(ctx, cl); err != nil {
		return w.stopOnMissingTopic(err)
	}
	w.checked = true
	return nil
}

// produce sends recs in the input's transaction, or with the output's own
// producer.
func (w *writer) produce(ctx context.Context, recs []*kgo.Record) ([]error, error) {
	if w.txn == nil {
		return w.prod.Produce(ctx, recs)
	}
	cons, err := w.txnConsumer()
	if err != nil {
		return nil, err
	}
	if w.partition != nil {
		for _, r := range recs {
			if r.Partition >= 0 { // else: an empty partition, hashed by key
				franz.WithManualPartition(r)
			}
		}
	}
	return cons.ProduceTxn(ctx, recs)
}

// awaitInputClient waits, up to inputConnectWait, for the input to connect:
// the outputs of a stream connect at the same time as its inputs, and an
// output that returned ErrNotConnected at once would be retried by Benthos
// only after its reconnect back-off (0.5 s or more), delaying the first
// batch and the creation of its topic.
func awaitInputClient(ctx context.Context, cons *franz.Consumer) (*kgo.Client, error) {
	deadline := time.Now().Add(inputConnectWait)
	for {
		if cl := cons.Client(); cl != nil {
			return cl, nil
		}
		if time.Now().After(deadline) {
			return nil, service.ErrNotConnected // the input connects first
		}
		t := time.NewTimer(inputConnectPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, service.ErrNotConnected
		case <-t.C:
		}
	}
}

const (
	inputConnectWait = 10 * time.Second
	inputConnectPoll = 5 * time.Millisecond
)
