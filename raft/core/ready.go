package core

// HasReady reports whether Ready would return any work.
func (c *Core) HasReady() bool {
	return c.softState() != c.prevSoft || c.hardState() != c.prevHard ||
		c.log.stable < c.log.lastIndex() || len(c.msgs) > 0 ||
		c.log.committed > c.log.applied || len(c.readStates) > 0 || c.pendingRestore != nil
}

// Ready returns the pending work. The slices alias the core's memory and
// stay valid (entries are never modified in place); call Advance once the
// work is done, before the next Step, Tick or Propose.
func (c *Core) Ready() Ready {
	rd := Ready{
		Entries:          c.log.unstable(),
		Messages:         c.msgs,
		CommittedEntries: c.log.toApply(c.cfg.MaxApplyEntries),
		ReadStates:       c.readStates,
		Snapshot:         c.pendingRestore,
	}
	if ss := c.softState(); ss != c.prevSoft {
		rd.SoftState = &ss
	}
	if hs := c.hardState(); hs != c.prevHard {
		rd.HardState = &hs
	}
	return rd
}

// Advance tells the core that rd was persisted, sent and applied.
func (c *Core) Advance(rd Ready) {
	if rd.SoftState != nil {
		c.prevSoft = *rd.SoftState
	}
	if rd.HardState != nil {
		c.prevHard = *rd.HardState
	}
	if n := len(rd.Entries); n > 0 {
		last := rd.Entries[n-1]
		if c.log.matchTerm(last.Index, last.Term) && last.Index > c.log.stable {
			c.log.stable = last.Index
		}
	}
	if n := len(rd.CommittedEntries); n > 0 {
		c.log.applied = rd.CommittedEntries[n-1].Index
	}
	c.msgs, c.readStates, c.readRoundOpen = nil, nil, false
	if rd.Snapshot != nil && c.pendingRestore == rd.Snapshot {
		c.pendingRestore = nil
	}
	if c.role == Leader && c.prs[c.id].acked(c.log.stable) {
		// Our own write is durable now, so we count towards the quorum.
		if c.maybeCommit() {
			c.bcastAppend()
			c.afterCommit()
		}
	}
}
