package session

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/credflow/credflow/pkg/contextdoc"
)

// NewID returns prefix and 48 random hex digits, the shape of OpenAI's ids
// (resp_…, conv_…, msg_…).
func NewID(prefix string) string {
	var b [24]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// NewItemID returns an id for an item of the given type.
func NewItemID(typ string) string {
	switch typ {
	case contextdoc.TypeFunctionCall:
		return NewID("fc_")
	case contextdoc.TypeFunctionCallOutput:
		return NewID("fco_")
	case contextdoc.TypeReasoning:
		return NewID("rs_")
	}
	return NewID("msg_")
}
