package franz

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASLConfig is one entry of the `sasl` list.
type SASLConfig struct {
	Mechanism  string // none | PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512 | OAUTHBEARER
	Username   string
	Password   string
	Token      string
	Extensions map[string]string
}

// Mechanisms lists the accepted `sasl[].mechanism` values.
var Mechanisms = []string{"none", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "AWS_MSK_IAM"}

// ErrAWSMSKIAM explains why AWS_MSK_IAM, accepted by Redpanda Connect, is
// refused here: configs stay portable in name, but it is not implemented.
const ErrAWSMSKIAM = "AWS_MSK_IAM is not supported by rides-connect's kafka_franz (it needs AWS credential loading that is not implemented); use SCRAM-SHA-512 or OAUTHBEARER, or MSK's SASL/SCRAM listener"

// Describe names the mechanism and user for logs and errors; never the secret.
func (s SASLConfig) Describe() string {
	if s.Username == "" {
		return s.Mechanism
	}
	return fmt.Sprintf("%s user %q", s.Mechanism, s.Username)
}

// BuildSASL turns the list into franz-go mechanisms, tried in order by the
// client. "none" entries are skipped.
func BuildSASL(confs []SASLConfig) ([]sasl.Mechanism, error) {
	var out []sasl.Mechanism
	for i, c := range confs {
		var m sasl.Mechanism
		switch strings.ToUpper(c.Mechanism) {
		case "", "NONE":
			continue
		case "PLAIN":
			m = plain.Auth{User: c.Username, Pass: c.Password}.AsMechanism()
		case "SCRAM-SHA-256":
			m = scram.Auth{User: c.Username, Pass: c.Password}.AsSha256Mechanism()
		case "SCRAM-SHA-512":
			m = scram.Auth{User: c.Username, Pass: c.Password}.AsSha512Mechanism()
		case "AWS_MSK_IAM":
			return nil, fmt.Errorf("sasl[%d].mechanism: %s", i, ErrAWSMSKIAM)
		case "OAUTHBEARER":
			if c.Token == "" {
				return nil, fmt.Errorf("sasl[%d].token: required for OAUTHBEARER", i)
			}
			m = oauth.Auth{Token: c.Token, Extensions: c.Extensions}.AsMechanism()
		default:
			return nil, fmt.Errorf("sasl[%d].mechanism: %q is not one of %s", i, c.Mechanism, strings.Join(Mechanisms, ", "))
		}
		if strings.ToUpper(c.Mechanism) != "OAUTHBEARER" && c.Username == "" {
			return nil, fmt.Errorf("sasl[%d].username: required for %s", i, c.Mechanism)
		}
		out = append(out, m)
	}
	return out, nil
}

// DescribeAll returns a short description of every configured mechanism
// ("SCRAM-SHA-512 user \"rides\""), used to make auth errors actionable.
func DescribeAll(confs []SASLConfig) string {
	var parts []string
	for _, c := range confs {
		if m := strings.ToUpper(c.Mechanism); m != "" && m != "NONE" {
			parts = append(parts, c.Describe())
		}
	}
	return strings.Join(parts, ", ")
}
