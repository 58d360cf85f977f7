package ledger

import (
	"encoding/json"
	"strconv"
	"time"
)

// appendJSON appends r as encoding/json would marshal it (the stored
// format), without reflection: the ledger writes one record per request.
// TestRecordJSONMatchesEncodingJSON holds the two to the same bytes.
func (r *Record) appendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendStringField(b, "id", r.ID)
	b = appendStringField(b, "key", r.Key)
	b = appendStringField(b, "session", r.Session)
	b = appendStringField(b, "provider", r.Provider)
	b = appendStringField(b, "model", r.Model)
	b = appendStringField(b, "upstream_model", r.UpstreamModel)
	b = appendStringField(b, "endpoint", r.Endpoint)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = appendBoolField(b, "stream", r.Stream)
	b = appendIntField(b, "input", r.Input)
	b = appendIntField(b, "output", r.Output)
	b = appendIntField(b, "cache_read", r.CacheRead)
	b = appendIntField(b, "cache_write", r.CacheWrite)
	b = appendIntField(b, "reasoning", r.Reasoning)
	b = appendIntField(b, "cost_micros", int64(r.Cost))
	b = appendBoolField(b, "cost_known", r.CostKnown)
	b = appendIntField(b, "latency_us", r.LatencyUS)
	b = appendIntField(b, "ttfb_us", r.TTFBUS)
	b = appendStringField(b, "error", r.ErrorClass)
	b = appendBoolField(b, "estimated", r.Estimated)
	if len(r.Guard) > 0 {
		// Rare (a request a guardrail hit): reflection is fine here.
		g, _ := json.Marshal(r.Guard)
		b = append(append(b, `,"guard":`...), g...)
	}
	b = appendStringField(b, "policy", r.Policy)
	return append(b, '}')
}

// The helpers write a field with omitempty semantics.

func appendStringField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(append(append(b, `,"`...), name...), `":`...)
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			// Escaping rules (HTML-safe, invalid UTF-8) are encoding/json's.
			q, _ := json.Marshal(v)
			return append(b, q...)
		}
	}
	return append(append(append(b, '"'), v...), '"')
}

func appendIntField(b []byte, name string, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(append(append(b, `,"`...), name...), `":`...)
	return strconv.AppendInt(b, v, 10)
}

func appendBoolField(b []byte, name string, v bool) []byte {
	if !v {
		return b
	}
	return append(append(append(b, `,"`...), name...), `":true`...)
}
