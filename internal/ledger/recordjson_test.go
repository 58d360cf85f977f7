package ledger

import (
	"encoding/json"
	"github.com/credflow/credflow/pkg/adminapi"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/pricing"
)

// The ledger stores records with appendJSON; readers decode them with
// encoding/json. The bytes must be what json.Marshal writes.
func TestRecordJSONMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "work", "gpt-4o-mini", "openai/gpt-4o", "a\"b", `back\slash`, "<html>&", "tab\there",
		"line\nbreak", "ctl\x01\x1f", "del\x7f", "héllo wörld", "emoji 🙂", "bad\xffutf8", "sep\u2028x\u2029", "/v1/chat/completions",
		// Session names are the client's (printable, up to 200 bytes) and conversation ids.
		"my project / day 2", "conv_0123456789abcdef0123456789abcdef0123456789abcdef", strings.Repeat("long session name ", 11)}
	pick := func(r *rand.Rand) string { return strs[r.IntN(len(strs))] }
	num := func(r *rand.Rand) int64 {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return -r.Int64N(1 << 40)
		default:
			return r.Int64N(1 << 50)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	recs := []Record{{}, {Time: time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)}}
	for range 2000 {
		recs = append(recs, Record{
			Time:          time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC(),
			ID:            pick(r),
			Key:           pick(r),
			Session:       pick(r),
			Provider:      pick(r),
			Model:         pick(r),
			UpstreamModel: pick(r),
			Endpoint:      pick(r),
			Status:        []int{0, 200, 404, 429, 502}[r.IntN(5)],
			Stream:        r.IntN(2) == 0,
			Input:         num(r),
			Output:        num(r),
			CacheRead:     num(r),
			CacheWrite:    num(r),
			Reasoning:     num(r),
			Cost:          pricing.Micros(num(r)),
			CostKnown:     r.IntN(2) == 0,
			LatencyUS:     num(r),
			TTFBUS:        num(r),
			ErrorClass:    pick(r),
			Estimated:     r.IntN(2) == 0,
			Policy:        pick(r),
		})
		if r.IntN(4) == 0 {
			recs[len(recs)-1].Guard = []adminapi.GuardHit{{Rule: pick(r), Action: "mask", Side: "request", Detector: pick(r), Count: r.IntN(9)}}
		}
	}
	for i := range recs {
		want, err := json.Marshal(&recs[i])
		if err != nil {
			t.Fatal(err)
		}
		if got := recs[i].appendJSON(nil); string(got) != string(want) {
			t.Fatalf("record %d:\nappendJSON %s\njson       %s", i, got, want)
		}
	}
}

func BenchmarkRecordJSON(b *testing.B) {
	rec := Record{Time: time.Now().UTC(), ID: "req_0123456789abcdef", Key: "agent", Provider: "openai", Model: "gpt-4o-mini",
		UpstreamModel: "gpt-4o-mini", Endpoint: "/v1/chat/completions", Status: 200, Input: 12, Output: 9, Cost: 7, CostKnown: true, LatencyUS: 812}
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(&rec)
		}
	})
	b.Run("appendJSON", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = rec.appendJSON(buf[:0])
		}
	})
}
