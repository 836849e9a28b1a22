package engine

// ForgetDelivered drops the retained emissions known to be delivered, and
// reports how many. acked[key] (key = Position.Key()) is the offset after
// the last acknowledged record of that input partition: an input batch is
// acknowledged only once the rows it emitted are, so an emission whose
// triggering offsets are all below it was delivered, and no redelivery or
// restart needs it again. Retaining only the others keeps the state, and
// every checkpoint of it, small when emissions are large (many keys), where
// a count alone kept retain_emissions of them. An emission triggered
// without Kafka positions (a heartbeat) is kept: nothing acknowledges it.
func (e *Engine) ForgetDelivered(acked map[string]int64) int {
	kept, keptEnc := e.pending[:0], e.pendingEnc[:0]
	for i, em := range e.pending {
		if delivered(em, acked) {
			continue
		}
		kept, keptEnc = append(kept, em), append(keptEnc, e.pendingEnc[i])
	}
	n := len(e.pending) - len(kept)
	if n > 0 {
		clear(e.pending[len(kept):])
		clear(e.pendingEnc[len(keptEnc):])
		e.pending, e.pendingEnc, e.pendingBin = kept, keptEnc, nil
	}
	return n
}

func delivered(em *Emission, acked map[string]int64) bool {
	if len(em.Trigger) == 0 {
		return false
	}
	for k, s := range em.Trigger {
		if next, ok := acked[k]; !ok || s.Hi >= next {
			return false
		}
	}
	return true
}
