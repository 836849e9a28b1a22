package observability

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The job writes rejected records to its dead-letter topic and refuses to
// start without it (issue #10): every way of running it that the repo ships
// must create that topic, or let the job create it.
func TestEveryTopicTheJobWritesIsCreated(t *testing.T) {
	m := regexp.MustCompile(`topic: \$\{DLQ_TOPIC:([A-Za-z0-9._-]+)\}`).FindSubmatch(read(t, "config/rides.yaml"))
	if m == nil {
		t.Fatal("config/rides.yaml: no dead-letter topic `${DLQ_TOPIC:...}` found")
	}
	dlq := string(m[1])

	var compose struct {
		Services map[string]struct {
			Command   []string `yaml:"command"`
			DependsOn any      `yaml:"depends_on"` // a list or a map

		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(read(t, "docker-compose.yml"), &compose); err != nil {
		t.Fatal(err)
	}
	creator := ""
	for name, s := range compose.Services {
		if i := slices.Index(s.Command, "--topic"); i >= 0 && i+1 < len(s.Command) && s.Command[i+1] == dlq &&
			strings.Join(s.Command[:3], " ") == "kafka topic create" {
			creator = name
		}
	}
	if creator == "" {
		t.Errorf("docker-compose.yml: no service runs `kafka topic create --topic %s`", dlq)
	} else if !dependsOn(compose.Services["rides"].DependsOn, creator) {
		t.Errorf("docker-compose.yml: the rides service must depend on %s, which creates %s", creator, dlq)
	}

	var deploy struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Env []struct {
							Name  string `yaml:"name"`
							Value string `yaml:"value"`
						} `yaml:"env"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(read(t, "deploy/kubernetes/statefulset.yaml"), &deploy); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, c := range deploy.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
	}
	if env["DLQ_CREATE_TOPIC"] != "true" {
		t.Errorf("deploy/kubernetes/statefulset.yaml: DLQ_CREATE_TOPIC=%q; the StatefulSet must let the job create %s (\"true\")", env["DLQ_CREATE_TOPIC"], dlq)
	}

	if !strings.Contains(string(read(t, "README.md")), "--topic "+dlq+" ") {
		t.Errorf("README.md: the topic creation steps must create %s", dlq)
	}
}

func dependsOn(deps any, service string) bool {
	switch d := deps.(type) {
	case map[string]any:
		_, ok := d[service]
		return ok
	case []any:
		return slices.Contains(d, any(service))
	}
	return false
}
