package window

import (
	"sync/atomic"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/fromjson"
	"github.com/miaradia/rides-connect/plugins/fromjson/typed"
)

// rowPlan places the config's field paths in one from_json schema: idx[j] is
// the schema field of paths[j]'s first name (-1: not in the schema, which
// reads as null, as a lookup in the parse's map does).
type rowPlan struct {
	schema *typed.Schema
	idx    []int
}

// rowPlans caches the plan of the last schema seen: a job has one parse.
type rowPlans struct{ last atomic.Pointer[rowPlan] }

func (rp *rowPlans) plan(s *typed.Schema, paths []fieldPath) *rowPlan {
	if p := rp.last.Load(); p != nil && p.schema == s {
		return p
	}
	p := &rowPlan{schema: s, idx: make([]int, len(paths))}
	for j, fp := range paths {
		p.idx[j] = -1
		if fp != nil {
			p.idx[j] = s.Index(fp[0])
		}
	}
	rp.last.Store(p)
	return p
}

// gatherRow fills the field paths' values from the typed row from_json
// (typed_rows) attached to m, if it still belongs to m's content: the same
// values the paths would read from the parsed object, without the object.
// False: no such row, read the content as usual.
func (p *processor) gatherRow(m *service.Message, vals []any) bool {
	row := fromjson.RowOf(m)
	if row == nil {
		return false
	}
	plan := p.rows.plan(row.Schema, p.conf.paths)
	for j, fp := range p.conf.paths {
		if fp == nil {
			continue
		}
		var v any
		if i := plan.idx[j]; i >= 0 {
			v = row.Vals[i]
		}
		if len(fp) > 1 {
			var ok bool
			if v, ok = fp[1:].lookup(v); !ok {
				return false
			}
		}
		vals[j] = v
	}
	return true
}
