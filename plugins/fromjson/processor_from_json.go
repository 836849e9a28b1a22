package fromjson

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/fromjson/typed"
)

func init() {
	service.MustRegisterBatchProcessor("from_json", spec(),
		func(conf *service.ParsedConfig, _ *service.Resources) (service.BatchProcessor, error) {
			s, err := schemaFromParsed(conf)
			if err != nil {
				return nil, err
			}
			workers, err := conf.FieldInt(fWorkers)
			if err != nil {
				return nil, err
			}
			if workers < 0 {
				return nil, fmt.Errorf("%s: %d must be >= 0 (0 = one per CPU)", fWorkers, workers)
			}
			if workers == 0 {
				workers = runtime.GOMAXPROCS(0)
			}
			passMeta, err := conf.FieldString(fPassMeta)
			if err != nil {
				return nil, err
			}
			return &processor{parser: typed.NewParser(s), workers: workers, passMeta: passMeta}, nil
		})
}

// schemaFromParsed turns the parsed config into the core's schema.
func schemaFromParsed(conf *service.ParsedConfig) (*typed.Schema, error) {
	list, err := conf.FieldObjectList(fSchema)
	if err != nil {
		return nil, err
	}
	fields := make([]typed.Field, len(list))
	for i, fc := range list {
		f := &fields[i]
		if f.Name, err = fc.FieldString(fName); err != nil {
			return nil, err
		}
		var s string
		if s, err = fc.FieldString(fType); err == nil {
			f.Type, err = typed.ParseType(s)
		}
		if err == nil {
			f.Required, err = fc.FieldBool(fRequired)
		}
		if err == nil {
			if s, err = fc.FieldString(fTransform); err == nil {
				f.Transform, err = typed.ParseTransform(s)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("schema[%d]: %w", i, err)
		}
	}
	return typed.NewSchema(fields)
}

// processor is stateless: the parser is safe for concurrent use.
type processor struct {
	parser   *typed.Parser
	workers  int
	passMeta string // messages with this metadata key are not parsed; "" = none
}

// minSlice is the fewest messages worth a goroutine of their own.
const minSlice = 256

var _ service.BatchProcessor = (*processor)(nil)

// ProcessBatch parses every message in place: a record that fits becomes its
// typed fields as structured content, one that does not keeps its content
// and goes on errored with its reason.
func (p *processor) ProcessBatch(_ context.Context, batch service.MessageBatch) ([]service.MessageBatch, error) {
	n := min(p.workers, len(batch)/minSlice)
	if n <= 1 {
		p.parseAll(batch)
		return []service.MessageBatch{batch}, nil
	}
	// Messages are independent: each goroutine parses its own slice in place.
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		part := batch[len(batch)*i/n : len(batch)*(i+1)/n]
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.parseAll(part)
		}()
	}
	wg.Wait()
	return []service.MessageBatch{batch}, nil
}

func (p *processor) parseAll(batch service.MessageBatch) {
	for _, m := range batch {
		if p.passMeta != "" {
			if _, ok := m.MetaGetMut(p.passMeta); ok {
				continue
			}
		}
		raw, _ := m.AsBytes() // never fails: structured content is marshalled
		rec, err := p.parser.Parse(raw)
		if err == nil {
			m.SetStructuredMut(rec)
			continue
		}
		var te *typed.Error
		if errors.As(err, &te) {
			m.MetaSetMut(reasonMeta, te.Reason)
		}
		m.SetError(err)
	}
}

func (p *processor) Close(context.Context) error { return nil }
