package ml

import (
	"fmt"
	"math"
	"reflect"
	"strings"
)

// runKeys are the params every built-in run records whatever its model:
// what was predicted from what, by which model, and whether the deployed
// model was refitted on every row. The model's own keys come from its
// schema (Models), so a GBDT run never shows logistic regression's C.
var runKeys = []string{"model", "target", "task", "features", "refit"}

// LoggedParams is what a run records of p (defaults already applied): the
// run keys and exactly the chosen model's schema keys, as strings. Empty
// lists and an unset task are left out (the task is logged once inferred).
func LoggedParams(p Params) map[string]string {
	byTag := map[string]reflect.Value{}
	v := reflect.ValueOf(p)
	for i := 0; i < v.NumField(); i++ {
		name := strings.Split(v.Type().Field(i).Tag.Get("json"), ",")[0]
		byTag[name] = v.Field(i)
	}
	keys := append([]string(nil), runKeys...)
	for _, m := range Models() {
		if m.Name == p.Model {
			for _, s := range m.Params {
				keys = append(keys, s.Name)
			}
		}
	}
	out := map[string]string{}
	for _, k := range keys {
		f, ok := byTag[k]
		if !ok {
			continue
		}
		switch x := f.Interface().(type) {
		case []string:
			if len(x) > 0 {
				out[k] = strings.Join(x, ",")
			}
		case string:
			if x != "" {
				out[k] = x
			}
		case float64:
			if !math.IsNaN(x) {
				out[k] = fmt.Sprint(x)
			}
		default:
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}
