package metaswitch

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/kafkarecord"
	"github.com/miaradia/rides-connect/internal/lintrule"
)

const (
	fieldKey        = "key"
	fieldCases      = "cases"
	fieldValue      = "value"
	fieldProcessors = "processors"
	fieldDefault    = "default"
)

func spec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Categories("Composition").
		Summary("Runs the processors of the case whose `value` equals a message's metadata `key`, as `switch` does, without a Bloblang check per message.").
		Description("Each message goes to the first case whose `value` equals the string value of its metadata `key`; messages without the key, or with a value no case names, go to `default`. "+
			"The messages of one route are processed together as one batch, in their order; the results of the routes follow each other in the order of each route's first message, flattened into one batch as `switch` does. "+
			"A batch of one input (e.g. one `kafka_franz` child of a `broker`) takes one route and keeps its order. "+
			"A processor error fails the whole batch, as in `switch`.").
		Field(service.NewStringField(fieldKey).
			Description("Metadata key whose value picks the case. A message from a `kafka_franz` input with `set_metadata: false` is routed by the Kafka record it carries, as its metadata would route it.").
			Example("kafka_topic")).
		Field(service.NewObjectListField(fieldCases,
			service.NewStringField(fieldValue).
				Description("Value of the metadata key that selects this case (exact string match).").
				Example("rides"),
			service.NewProcessorListField(fieldProcessors).
				Description("Processors for the messages of this case."),
		).Description("Cases, tried in order; the first whose value matches wins.")).
		Field(service.NewProcessorListField(fieldDefault).
			Description("Processors for messages that match no case (none: they pass unchanged).").
			Default([]any{})).
		LintRule(lintrule.Lazy("metadata_switch", `root = (if this.key.or("") == "" { [ "key: must name a metadata key" ] } else { [] }).merge(
  if this.cases.or([]).length() == 0 { [ "cases: at least one case is required" ] } else { [] })`)).
		Example("Two stages in one pipeline", "The scale-out config's two sub-topologies (config/rides-scaleout.yaml):", `
pipeline:
  processors:
    - metadata_switch:
        key: kafka_topic
        cases:
          - value: rides
            processors:
              - parse_ride: {}
        default:
          - log:
              message: "from another topic"
`)
}

func init() {
	service.MustRegisterBatchProcessor("metadata_switch", spec(),
		func(conf *service.ParsedConfig, res *service.Resources) (service.BatchProcessor, error) {
			return fromParsed(conf)
		})
}

// metadataSwitch routes messages by one metadata value.
type metadataSwitch struct {
	key    string
	values map[string]int // value → case index (the first case naming it)
	cases  [][]*service.OwnedProcessor
	deflt  []*service.OwnedProcessor
}

var _ service.BatchProcessor = (*metadataSwitch)(nil)

func fromParsed(conf *service.ParsedConfig) (*metadataSwitch, error) {
	key, err := conf.FieldString(fieldKey)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("%s: must name a metadata key", fieldKey)
	}
	cs, err := conf.FieldObjectList(fieldCases)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("%s: at least one case is required", fieldCases)
	}
	s := &metadataSwitch{key: key, values: map[string]int{}}
	for i, c := range cs {
		v, err := c.FieldString(fieldValue)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", fieldCases, i, err)
		}
		procs, err := c.FieldProcessorList(fieldProcessors)
		if err != nil {
			return nil, fmt.Errorf("%s[%d].%s: %w", fieldCases, i, fieldProcessors, err)
		}
		if _, dup := s.values[v]; !dup {
			s.values[v] = i
		}
		s.cases = append(s.cases, procs)
	}
	if s.deflt, err = conf.FieldProcessorList(fieldDefault); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *metadataSwitch) route(m *service.Message) int {
	v, ok := metaValue(m, s.key)
	if !ok {
		return -1
	}
	if i, ok := s.values[v]; ok {
		return i
	}
	return -1
}

func (s *metadataSwitch) ProcessBatch(ctx context.Context, batch service.MessageBatch) ([]service.MessageBatch, error) {
	routes, members := groups(len(batch), func(i int) int { return s.route(batch[i]) })
	var out service.MessageBatch
	for g, r := range routes {
		procs := s.procsOf(r)
		in := batch
		if len(routes) > 1 {
			in = make(service.MessageBatch, len(members[g]))
			for j, i := range members[g] {
				in[j] = batch[i]
			}
		}
		res, err := service.ExecuteProcessors(ctx, procs, in)
		if err != nil {
			return nil, err
		}
		if len(routes) == 1 && len(res) == 1 && len(res[0]) > 0 {
			return res, nil // one route, one batch out: as it is
		}
		for _, b := range res {
			out = append(out, b...)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return []service.MessageBatch{out}, nil
}

// metaValue reads key from the Kafka record the message carries (a
// kafka_franz input with set_metadata: false), else from its metadata: the
// record answers exactly as the metadata it stands for.
func metaValue(m *service.Message, key string) (string, bool) {
	if r, ok := kafkarecord.Of(m); ok {
		if v, ok := r.String(key); ok {
			return v, true
		}
		if n, ok := r.Int(key); ok {
			return strconv.FormatInt(n, 10), true
		}
	}
	return m.MetaGet(key)
}

// procsOf is the processors of route r (-1: the default).
func (s *metadataSwitch) procsOf(r int) []*service.OwnedProcessor {
	if r >= 0 {
		return s.cases[r]
	}
	return s.deflt
}

// Close may run on every pipeline thread at once (Benthos shares one
// processor between its threads and each closes it): it must not write to s.
// (Appending s.deflt to s.cases did, into the spare capacity of its array.)
func (s *metadataSwitch) Close(ctx context.Context) error {
	var errs []error
	closeAll := func(procs []*service.OwnedProcessor) {
		for _, p := range procs {
			errs = append(errs, p.Close(ctx))
		}
	}
	for _, procs := range s.cases {
		closeAll(procs)
	}
	closeAll(s.deflt)
	return errors.Join(errs...)
}
