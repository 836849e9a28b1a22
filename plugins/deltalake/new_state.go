package deltalake

import (
	"fmt"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

// metaNewState is set by tumbling_window on rows emitted from a state it did
// not restore: no checkpoint was found at start.
const metaNewState = "window_state_new"

// checkNewState refuses a row of a window state that started empty when the
// table already holds its appId's sequences from before this process: the
// state's checkpoint was lost or reset, its sequences start again at 1, and
// sequence mode would skip every new window as already written — a silent
// loss. Refusing stalls the job loudly instead (the batch is retried) until
// the checkpoint is restored or the job writes under a new app_id.
func (o *output) checkNewState(w *delta.Writer, msg *service.Message, app string, ver, tok int64) error {
	if o.conf.Mode != "sequence" || tok != 0 {
		return nil
	}
	if v, ok := msg.MetaGetMut(metaNewState); !ok || v != true {
		return nil
	}
	o.tracker(w, app) // records the table's sequence for app on first use
	o.mu.Lock()
	start := o.startSeqs[app]
	o.mu.Unlock()
	if ver > start {
		return nil
	}
	err := fmt.Errorf("delta_lake %s: window_emit_seq %d of a window state that started empty, but app_id %q already has sequences up to %d in the table: the window's state checkpoint was lost or reset, and its new sequences would be skipped as already written. Restore the checkpoint (state.cache), or write under a new idempotency.app_id (docs/delta.md, \"A lost window checkpoint\")", o.conf.Path, ver, app, start)
	o.log.Errorf("%v", err)
	return err
}
