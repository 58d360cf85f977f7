package adminapi

// Policy is a virtual key's spending and rate limits.
type Policy struct {
	// Budgets cap spend per period; hard ones refuse requests (429), soft
	// ones only warn.
	Budgets []Budget `json:"budgets,omitempty"`
	// RPM and TPM limit requests and tokens per minute; MaxConcurrent the
	// requests in flight at once. 0 means no limit.
	RPM           int `json:"rpm,omitempty"`
	TPM           int `json:"tpm,omitempty"`
	MaxConcurrent int `json:"max_concurrent,omitempty"`
}

// IsZero reports a policy with no limits.
func (p Policy) IsZero() bool {
	return len(p.Budgets) == 0 && p.RPM == 0 && p.TPM == 0 && p.MaxConcurrent == 0
}

// Budget units and periods.
const (
	UnitUSD    = "usd"
	UnitTokens = "tokens"

	PeriodDay   = "day"
	PeriodWeek  = "week"
	PeriodMonth = "month"
	PeriodTotal = "total"
)

// Budget is a cap on spend in one period. Periods are calendar periods in
// UTC: a day starts at 00:00, a week on Monday, a month on the 1st.
type Budget struct {
	// Limit is micro-dollars for UnitUSD, tokens for UnitTokens.
	Limit  int64  `json:"limit"`
	Unit   string `json:"unit"`
	Period string `json:"period"`
	Soft   bool   `json:"soft,omitempty"`
}
