package policy

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
)

// Variable indexes into activation.vals; names in varNames.
const (
	vKey = iota
	vModel
	vProvider
	vEndpoint
	vHour
	vMinute
	vWeekday
	vTokens
	vSpend
	vSpendMonth
	vSession
	vHeaders
	vNow
	nVars
)

var varNames = [nVars]string{
	vKey: "key", vModel: "model", vProvider: "provider", vEndpoint: "endpoint",
	vHour: "hour", vMinute: "minute", vWeekday: "weekday", vTokens: "tokens",
	vSpend: "spend", vSpendMonth: "spend_month", vSession: "session",
	vHeaders: "headers", vNow: "now",
}

var varTypes = [nVars]*cel.Type{
	vKey: cel.StringType, vModel: cel.StringType, vProvider: cel.StringType, vEndpoint: cel.StringType,
	vHour: cel.IntType, vMinute: cel.IntType, vWeekday: cel.IntType, vTokens: cel.IntType,
	vSpend: cel.DoubleType, vSpendMonth: cel.DoubleType, vSession: cel.StringType,
	vHeaders: cel.MapType(cel.StringType, cel.StringType), vNow: cel.TimestampType,
}

// celEnv is built once: building an environment costs far more than
// compiling an expression, and a cel.Env is safe for concurrent use.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	opts := []cel.EnvOption{
		ext.Strings(),
		cel.OptionalTypes(),
		// So `spend > 5` type-checks without writing 5.0.
		cel.CrossTypeNumericComparisons(true),
	}
	for i, name := range varNames {
		opts = append(opts, cel.Variable(name, varTypes[i]))
	}
	return cel.NewEnv(opts...)
})

// compileExpr parses, type-checks and plans expr. tracked reports whether
// evaluation is cost-limited at run time.
func compileExpr(env *cel.Env, expr string) (prg cel.Program, tracked bool, problems []problem) {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, false, celProblems(expr, iss.Errors())
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsDyn() {
		return nil, false, []problem{{1, 1, fmt.Sprintf("when must be a condition (bool), but this expression is %s", t)}}
	}
	// Rules are evaluated many times: fold constants and compile constant
	// regexes once.
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	// Runtime cost tracking more than doubles the cost of evaluating a
	// typical rule, so it is enabled only where needed: when CEL's static
	// estimate cannot bound the cost within CostLimit. That is the case
	// for any comprehension or regex over an input of unknown size
	// (headers, strings) and for large literal comprehensions.
	est, err := env.EstimateCost(ast, unknownSizes{})
	tracked = err != nil || est.Max > CostLimit
	if tracked {
		opts = append(opts, cel.CostLimit(CostLimit))
	}
	prg, err = env.Program(ast, opts...)
	if err != nil {
		return nil, false, []problem{{1, 1, err.Error()}}
	}
	return prg, tracked, nil
}

// unknownSizes gives the cost estimator no size information, so that every
// input is treated as unbounded and only expressions whose cost is bounded
// by their own text escape runtime tracking.
type unknownSizes struct{}

func (unknownSizes) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

func (unknownSizes) EstimateSize(cost.AstNode) *cost.SizeEstimate { return nil }

// activation supplies Input to CEL. Values are converted on first use and
// cached, so a variable read by several rules is boxed once per Eval.
type activation struct {
	in   Input
	vals [nVars]ref.Val
}

func newActivation(in *Input) *activation {
	a := &activation{in: *in}
	if a.in.Time.IsZero() {
		a.in.Time = time.Now()
	}
	return a
}

func (a *activation) Parent() cel.Activation { return nil }

func (a *activation) ResolveName(name string) (any, bool) {
	i := varIndex(name)
	if i < 0 {
		return nil, false
	}
	if a.vals[i] == nil {
		a.vals[i] = a.value(i)
	}
	return a.vals[i], true
}

func varIndex(name string) int {
	switch name {
	case "key":
		return vKey
	case "model":
		return vModel
	case "provider":
		return vProvider
	case "endpoint":
		return vEndpoint
	case "hour":
		return vHour
	case "minute":
		return vMinute
	case "weekday":
		return vWeekday
	case "tokens":
		return vTokens
	case "spend":
		return vSpend
	case "spend_month":
		return vSpendMonth
	case "session":
		return vSession
	case "headers":
		return vHeaders
	case "now":
		return vNow
	}
	return -1
}

func (a *activation) value(i int) ref.Val {
	in := &a.in
	switch i {
	case vKey:
		return types.String(in.Key)
	case vModel:
		return types.String(in.Model)
	case vProvider:
		return types.String(in.Provider)
	case vEndpoint:
		return types.String(in.Endpoint)
	case vHour:
		return types.Int(in.Time.Hour())
	case vMinute:
		return types.Int(in.Time.Minute())
	case vWeekday:
		wd := int(in.Time.Weekday()) // Sunday = 0
		if wd == 0 {
			wd = 7
		}
		return types.Int(wd)
	case vTokens:
		return types.Int(in.Tokens)
	case vSpend:
		return types.Double(float64(in.SpendMicros) / 1e6)
	case vSpendMonth:
		return types.Double(float64(in.MonthSpendMicros) / 1e6)
	case vSession:
		return types.String(in.Session)
	case vHeaders:
		return types.NewStringStringMap(types.DefaultTypeAdapter, lowerKeys(in.Headers))
	case vNow:
		return types.Timestamp{Time: in.Time}
	}
	panic("policy: unknown variable index")
}

// lowerKeys returns h with lower-cased names, copying only when needed.
func lowerKeys(h map[string]string) map[string]string {
	for k := range h {
		if k != strings.ToLower(k) {
			out := make(map[string]string, len(h))
			for k, v := range h {
				out[strings.ToLower(k)] = v
			}
			return out
		}
	}
	if h == nil {
		return map[string]string{}
	}
	return h
}
