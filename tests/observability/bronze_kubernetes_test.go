package observability

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/miaradia/rides-connect/internal/clicmd"
	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

// The bronze job's Deployment reads config/bronze.yaml from the ConfigMap, sets
// only variables that config reads, runs hardened like the silver job, and its
// maintenance CronJobs run commands the binary accepts.
func TestBronzeKubernetesManifests(t *testing.T) {
	bronze := string(read(t, "config/bronze.yaml"))
	cmDoc := yamlDocs(t, "deploy/kubernetes/configmap.yaml")[0]
	if dig(cmDoc, "data", "bronze.yaml") != bronze {
		t.Error("deploy/kubernetes/configmap.yaml is out of date with config/bronze.yaml: run deploy/kubernetes/sync-config.sh")
	}

	dep := yamlDocs(t, "deploy/kubernetes/bronze-deployment.yaml")[0]
	pod := dig(dep, "spec", "template")
	ctr := dig(pod, "spec", "containers", 0)
	if args := strings.Join(toStrings(dig(ctr, "args")), " "); args != "-c /etc/rides-connect/bronze.yaml" {
		t.Errorf("bronze container args %q", args)
	}
	for _, e := range dig(ctr, "env").([]any) {
		name := dig(e, "name").(string)
		if name != "GOMEMLIMIT" && !strings.Contains(bronze, "${"+name+":") && !strings.Contains(bronze, "${"+name+"}") {
			t.Errorf("bronze deployment sets %s, which config/bronze.yaml does not read", name)
		}
	}
	silver := yamlDocs(t, "deploy/kubernetes/statefulset.yaml")[0]
	if dig(dep, "spec", "selector", "matchLabels", "app.kubernetes.io/name") == dig(silver, "spec", "selector", "matchLabels", "app.kubernetes.io/name") {
		t.Error("the bronze pods must not carry the silver job's name label (the rides-connect Service and alerts select it)")
	}
	checkHardened(t, "bronze deployment", dig(pod, "spec"), ctr)
	if p := dig(ctr, "readinessProbe", "httpGet", "path"); p != "/ready" {
		t.Errorf("bronze readiness probe on %v, want /ready", p)
	}

	jobs := yamlDocs(t, "deploy/kubernetes/bronze-maintenance.yaml")
	if len(jobs) != 2 {
		t.Fatalf("bronze-maintenance.yaml holds %d documents, want the optimize and vacuum CronJobs", len(jobs))
	}
	table := bronzeTable(t)
	for _, cj := range jobs {
		podSpec := dig(cj, "spec", "jobTemplate", "spec", "template", "spec")
		c := dig(podSpec, "containers", 0)
		checkHardened(t, dig(cj, "metadata", "name").(string), podSpec, c)
		args := toStrings(dig(c, "args"))
		if args[len(args)-1] != "s3a://miaradia-lake/bronze/rides" {
			t.Errorf("%v runs on %s, not the bronze table", dig(cj, "metadata", "name"), args[len(args)-1])
		}
		// The same arguments on a local copy of a bronze-shaped table: they must parse and run.
		args[len(args)-1] = table
		app := &cli.App{Name: "rides-connect", Commands: clicmd.All(), ExitErrHandler: func(*cli.Context, error) {}}
		if err := app.Run(append([]string{"rides-connect"}, args...)); err != nil {
			t.Errorf("%v: rides-connect %s: %v", dig(cj, "metadata", "name"), strings.Join(args, " "), err)
		}
	}
}

// bronzeTable writes a small table partitioned by event_date, two files
// yesterday, for the CronJobs' commands to run on.
func bronzeTable(t *testing.T) string {
	dir := t.TempDir()
	st, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := delta.Schema{Fields: []delta.Field{
		{Name: "rideId", Type: delta.Type{Name: "long"}},
		{Name: "event_date", Type: delta.Type{Name: "date"}},
	}}
	ctx := context.Background()
	tbl, err := delta.CreateOrOpen(ctx, st, delta.TableConfig{Schema: s, PartitionColumns: []string{"event_date"}}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	w := delta.NewWriter(tbl, delta.WriterOptions{})
	day := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	for i := range 2 {
		row, err := delta.RowFromMap(s, map[string]any{"rideId": i, "event_date": day}, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Append(ctx, []delta.Record{{Row: row}}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func checkHardened(t *testing.T, what string, podSpec, ctr any) {
	t.Helper()
	if dig(podSpec, "securityContext", "runAsNonRoot") != true {
		t.Errorf("%s: runAsNonRoot must be true", what)
	}
	if dig(ctr, "securityContext", "readOnlyRootFilesystem") != true || dig(ctr, "securityContext", "allowPrivilegeEscalation") != false {
		t.Errorf("%s: read-only root filesystem, no privilege escalation", what)
	}
	if dig(ctr, "resources", "requests", "memory") == nil || dig(ctr, "resources", "limits", "memory") == nil {
		t.Errorf("%s: memory request and limit", what)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
