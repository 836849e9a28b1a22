package franz

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Two processes started with one instance_id (a copied KAFKA_INSTANCE_ID,
// replicas of a Deployment that pins it) are one static member for the
// broker: the newer takes the member's place and its partitions, and the
// older is refused with FENCED_INSTANCE_ID at every rejoin while the newer
// runs (red team rt20a). franz-go retries and logs the code; the window then
// blames a lost session. This says what is wrong and how to fix it, at
// most once a minute.

// groupErrorHook is the consumer's kgo hook for errors that end a group
// session.
type groupErrorHook struct{ c *Consumer }

func (h groupErrorHook) OnGroupManageError(err error) {
	if errors.Is(err, kerr.FencedInstanceID) {
		if ok, _ := h.c.instanceFenced.Note(time.Now(), time.Minute); ok {
			h.c.log.Errorf("kafka: another process joined consumer group %q with this process's instance_id %q (FENCED_INSTANCE_ID): it owns this member's partitions and this process reads nothing while it runs. Give every process its own instance_id (KAFKA_INSTANCE_ID; the pod name in a StatefulSet)", h.c.conf.Group, h.c.conf.InstanceID)
		}
	}
}
