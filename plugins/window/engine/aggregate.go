package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Op is an aggregate function.
type Op string

// The aggregate functions. Null values are ignored by sum, avg, min and max;
// count without a value counts rows (Spark's count(lit(1))), count with a value
// counts its non-null values (Spark's count(col)).
const (
	OpSum   Op = "sum"
	OpAvg   Op = "avg"
	OpCount Op = "count"
	OpMin   Op = "min"
	OpMax   Op = "max"
)

// ParseOp validates an op name.
func ParseOp(s string) (Op, error) {
	switch op := Op(s); op {
	case OpSum, OpAvg, OpCount, OpMin, OpMax:
		return op, nil
	}
	return "", fmt.Errorf("unknown aggregate op %q: expected sum, avg, count, min or max", s)
}

// AggSpec is one named output aggregate.
type AggSpec struct {
	Name     string
	Op       Op
	HasValue bool // false only for a row count
}

// Value is one aggregate input: a number or null.
type Value struct {
	Null bool
	F    float64
}

// Null is the null input value.
var Null = Value{Null: true}

// ParseValue turns a query result into a Value. Numbers (and numeric JSON
// numbers) are accepted; nil is null; anything else, or a non-finite number, is
// an error, so that a text field never silently counts as zero.
func ParseValue(v any) (Value, error) {
	var f float64
	switch t := v.(type) {
	case nil:
		return Null, nil
	case float64:
		f = t
	case float32:
		f = float64(t)
	case int64:
		f = float64(t)
	case int:
		f = float64(t)
	case int32:
		f = float64(t)
	case uint64:
		f = float64(t)
	case json.Number:
		p, err := strconv.ParseFloat(t.String(), 64)
		if err != nil {
			return Null, fmt.Errorf("value %q is not a number", t.String())
		}
		f = p
	default:
		return Null, fmt.Errorf("value of type %T is not a number", v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Null, fmt.Errorf("value %v is not a finite number", f)
	}
	return Value{F: f}, nil
}

// acc is the partial state of one aggregate: avg keeps (sum, count) rather
// than a running mean, so partials merge exactly as Spark's buffers do. The
// sum is exact (see exactSum) and min/max order -0 below +0, so every
// aggregate is independent of the order its values arrived in.
type acc struct {
	Sum exactSum `json:"sum"`
	N   int64    `json:"n"` // non-null values seen
	Min float64  `json:"lo"`
	Max float64  `json:"hi"`
	// Legacy is the rounded running sum of states written before sums were
	// exact; restore folds it into Sum.
	Legacy float64 `json:"s,omitempty"`
}

func (a *acc) add(v Value) {
	if v.Null {
		return
	}
	if a.N == 0 || less(v.F, a.Min) {
		a.Min = v.F
	}
	if a.N == 0 || less(a.Max, v.F) {
		a.Max = v.F
	}
	a.Sum.add(v.F)
	a.N++
}

// foldLegacy moves a rounded sum from an older state into the exact sum.
func (a *acc) foldLegacy() {
	if a.Legacy != 0 {
		a.Sum.add(a.Legacy)
		a.Legacy = 0
	}
}

// merge folds another partial of the same aggregate into a (exact).
func (a *acc) merge(o *acc) {
	if o.N == 0 {
		return
	}
	if a.N == 0 || less(o.Min, a.Min) {
		a.Min = o.Min
	}
	if a.N == 0 || less(a.Max, o.Max) {
		a.Max = o.Max
	}
	a.Sum.merge(&o.Sum)
	a.N += o.N
}

// less orders floats with -0 below +0, so min/max do not depend on which of
// two zeros came first.
func less(x, y float64) bool {
	return x < y || (x == y && math.Signbit(x) && !math.Signbit(y))
}

// group is one open (window, key) pair.
type group struct {
	Rows int64 `json:"rows"`
	Aggs []acc `json:"aggs"`
}

// result renders an aggregate as the JSON value of the output row.
func result(spec AggSpec, g *group, a *acc) json.RawMessage {
	switch spec.Op {
	case OpCount:
		if !spec.HasValue {
			return json.RawMessage(strconv.FormatInt(g.Rows, 10))
		}
		return json.RawMessage(strconv.FormatInt(a.N, 10))
	}
	if a.N == 0 {
		return json.RawMessage("null") // all-null input, as Spark
	}
	var f float64
	switch spec.Op {
	case OpSum:
		f = a.Sum.value() + 0 // Spark starts sum and avg at 0.0: values all -0 give +0, not -0
	case OpAvg:
		f = (a.Sum.value() + 0) / float64(a.N)
	case OpMin:
		f = a.Min
	case OpMax:
		f = a.Max
	}
	if math.IsInf(f, 0) || math.IsNaN(f) { // a sum may overflow
		return json.RawMessage("null")
	}
	return json.RawMessage(strconv.FormatFloat(f, 'g', -1, 64))
}
