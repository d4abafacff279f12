package wire

import "testing"

func TestSafeBeforePersist(t *testing.T) {
	safe := map[MessageType]bool{MsgApp: true, MsgHeartbeat: true, MsgReadIndex: true, MsgReadIndexResp: true}
	for typ := MessageType(1); typ < MsgTypeEnd; typ++ {
		m := Message{Type: typ}
		if m.SafeBeforePersist() != safe[typ] {
			t.Errorf("%v: SafeBeforePersist = %v", typ, !safe[typ])
		}
	}
}
