package dataset

// TargetColumn is the first column marked as the target, or "".
func (v Version) TargetColumn() string {
	for _, c := range v.Schema {
		if c.Role == Target {
			return c.Name
		}
	}
	return ""
}

// FeatureColumns are the columns that may feed a model predicting target:
// those marked Feature or not marked at all. ID and ignored columns never
// do (an ID would let a model memorise rows), nor does the target.
func (v Version) FeatureColumns(target string) []string {
	var out []string
	for _, c := range v.Schema {
		if c.Name != target && (c.Role == Feature || c.Role == "") {
			out = append(out, c.Name)
		}
	}
	return out
}
