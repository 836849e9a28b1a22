package all

import (
	"strings"
	"testing"

	"github.com/miaradia/rides-connect/internal/lintrule"
)

// Every component's lint rule is parsed at the first lint that needs it, not
// at start: a rule that does not parse must fail here, not in a user's lint.
func TestEveryLintRuleParses(t *testing.T) {
	if err := lintrule.Check(); err != nil {
		t.Fatal(err)
	}
}

// The checkpoint cache has one lint rule with both of its checks (a second
// LintRule used to replace the s3 block's).
func TestCheckpointCacheLintsURLAndS3Block(t *testing.T) {
	got, err := lintrule.Lint(`
cache_resources:
  - label: a
    checkpoint:
      url: " "
  - label: b
    checkpoint:
      url: s3://bucket/state
      s3: { kms_key_id: alias/lake }
  - label: c
    checkpoint:
      url: s3://bucket/state
      s3: { sse: aws:kms, kms_key_id: alias/lake }
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !strings.Contains(got[0], "url: must be") || !strings.Contains(got[1], "s3.kms_key_id needs s3.sse: aws:kms") {
		t.Fatalf("lints: %q", got)
	}
}
