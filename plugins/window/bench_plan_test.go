package window

// The query plans BenchmarkProcessorBatch compares. bench_ab.sh replaces this
// file in an older checkout (which has a single plan) to run the same
// benchmark there.
var benchPlans = []string{"fieldpath", "bloblang"}

func setBenchPlan(p *processor, plan string) error { return p.conf.planQueries(plan == "fieldpath") }
