package policy_test

import (
	"fmt"
	"time"

	"github.com/credflow/credflow/internal/policy"
)

func Example() {
	set, err := policy.Compile([]policy.Rule{
		{Name: "pii", When: `key.startsWith("team-")`, Require: []string{"pii"}},
		{Name: "evening-downgrade", When: `key == "intern" && hour >= 20 && weekday <= 5 && model.startsWith("gpt-5")`, Route: "gpt-5-mini"},
		{Name: "cap", When: `spend > 20`, Deny: "daily spend cap reached"},
	}, "credflow.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	wednesdayEvening := time.Date(2025, 1, 15, 20, 30, 0, 0, time.UTC)
	for _, in := range []policy.Input{
		{Key: "intern", Model: "gpt-5", Time: wednesdayEvening},
		{Key: "intern", Model: "gpt-5", Time: wednesdayEvening, SpendMicros: 21_000_000},
		{Key: "team-ml", Model: "gpt-5", Time: wednesdayEvening},
		{Key: "ops", Model: "gpt-5", Time: wednesdayEvening},
	} {
		d, err := set.Eval(in)
		if err != nil {
			fmt.Println(err)
			continue
		}
		switch d.Kind {
		case policy.Deny:
			fmt.Printf("%s: deny by %s: %s (matched %v)\n", in.Key, d.Rule, d.Message, d.Matched)
		case policy.Route:
			fmt.Printf("%s: route to %s by %s\n", in.Key, d.Model, d.Rule)
		case policy.Require:
			fmt.Printf("%s: require %v\n", in.Key, d.Require)
		default:
			fmt.Printf("%s: allow\n", in.Key)
		}
	}
	_, err = policy.Compile([]policy.Rule{{Name: "typo", When: `modle == "x"`, Deny: "no", Line: 3, Col: 11}}, "credflow.yaml")
	fmt.Println(err)
	// Output:
	// intern: route to gpt-5-mini by evening-downgrade
	// intern: deny by cap: daily spend cap reached (matched [evening-downgrade cap])
	// team-ml: require [pii]
	// ops: allow
	// credflow.yaml:3:11: policy "typo": unknown variable 'modle' (did you mean 'model'?)
}
