package promexport

import "regexp"

// cpuClasses selects the runtime/metrics CPU accounting
// (/cpu/classes/gc/total:cpu-seconds, /cpu/classes/total:cpu-seconds, …),
// exported as go_cpu_classes_*_cpu_seconds_total. The GcTimeHigh alert
// divides the GC class by the total.
var cpuClasses = regexp.MustCompile(`^/cpu/classes/.*`)
