package ml

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"

	"github.com/tern-studio/tern/backend/core"
)

// Linear is a linear model on the preprocessed matrix: one weight row per
// output (1 for regression and binary classification, K for multinomial).
type Linear struct {
	Weights [][]float64 `json:"weights"`
	Bias    []float64   `json:"bias"`
}

func (l *Linear) validate(width, outputs int) error {
	if len(l.Weights) != outputs || len(l.Bias) != outputs {
		return core.Errorf(core.Invalid, "The model file is damaged: the linear model has %d outputs, expected %d.", len(l.Weights), outputs)
	}
	for _, w := range l.Weights {
		if len(w) != width {
			return core.Errorf(core.Invalid, "The model file is damaged: the linear model has %d weights, expected %d.", len(w), width)
		}
	}
	return nil
}

func (l *Linear) scores(X []float64, n, p int) []float64 {
	k := len(l.Weights)
	out := make([]float64, n*k)
	for i := 0; i < n; i++ {
		row := X[i*p : (i+1)*p]
		for c, w := range l.Weights {
			s := l.Bias[c]
			for j, x := range row {
				s += w[j] * x
			}
			out[i*k+c] = s
		}
	}
	return out
}

func (l *Linear) values(X []float64, n, p int) []float64 { return l.scores(X, n, p) }

func (l *Linear) proba(X []float64, n, p int) []float64 {
	return scoresToProba(l.scores(X, n, p), n, len(l.Weights))
}

// scoresToProba turns raw scores into class probabilities: a sigmoid for a
// single binary score column, a softmax otherwise.
func scoresToProba(s []float64, n, k int) []float64 {
	if k == 1 {
		out := make([]float64, 2*n)
		for i := 0; i < n; i++ {
			p := sigmoid(s[i])
			out[2*i], out[2*i+1] = 1-p, p
		}
		return out
	}
	out := make([]float64, n*k)
	for i := 0; i < n; i++ {
		softmax(s[i*k:(i+1)*k], out[i*k:(i+1)*k])
	}
	return out
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func softmax(s, out []float64) {
	mx := math.Inf(-1)
	for _, v := range s {
		mx = math.Max(mx, v)
	}
	var sum float64
	for c, v := range s {
		out[c] = math.Exp(v - mx)
		sum += out[c]
	}
	for c := range out {
		out[c] /= sum
	}
}

// fitLogistic fits L2-regularised logistic regression (binary or
// multinomial) with L-BFGS, minimising mean log loss + ||w||²/(2·C·n) — the
// same objective as scikit-learn's LogisticRegression(C) divided by n.
func fitLogistic(ctx context.Context, X []float64, y []int, n, p, classes int, C float64, maxIter int, report func(step int, loss float64)) (*Linear, error) {
	k := classes
	if k == 2 {
		k = 1
	}
	dim := k * (p + 1)
	lambda := 1 / (C * float64(n))
	loss := func(theta, grad []float64) float64 {
		if grad != nil {
			for i := range grad {
				grad[i] = 0
			}
		}
		var total float64
		s := make([]float64, k)
		pr := make([]float64, k)
		for i := 0; i < n; i++ {
			row := X[i*p : (i+1)*p]
			for c := 0; c < k; c++ {
				w := theta[c*(p+1) : (c+1)*(p+1)]
				v := w[p]
				for j, x := range row {
					v += w[j] * x
				}
				s[c] = v
			}
			if k == 1 {
				prob := sigmoid(s[0])
				t := float64(y[i])
				total += logLoss1(prob, t)
				pr[0] = prob - t
			} else {
				softmax(s, pr)
				total -= math.Log(math.Max(pr[y[i]], 1e-15))
				pr[y[i]] -= 1
			}
			if grad != nil {
				for c := 0; c < k; c++ {
					g := grad[c*(p+1) : (c+1)*(p+1)]
					d := pr[c]
					for j, x := range row {
						g[j] += d * x
					}
					g[p] += d
				}
			}
		}
		nf := float64(n)
		total /= nf
		for c := 0; c < k; c++ {
			w := theta[c*(p+1) : (c+1)*(p+1)]
			for j := 0; j < p; j++ {
				total += 0.5 * lambda * w[j] * w[j]
			}
		}
		if grad != nil {
			for i := range grad {
				grad[i] /= nf
			}
			for c := 0; c < k; c++ {
				for j := 0; j < p; j++ {
					grad[c*(p+1)+j] += lambda * theta[c*(p+1)+j]
				}
			}
		}
		return total
	}
	prob := optimize.Problem{
		Func: func(x []float64) float64 { return loss(x, nil) },
		Grad: func(grad, x []float64) { loss(x, grad) },
	}
	rec := &progressRecorder{ctx: ctx, report: report}
	settings := &optimize.Settings{
		MajorIterations:   maxIter,
		GradientThreshold: 1e-6,
		Recorder:          rec,
	}
	res, err := optimize.Minimize(prob, make([]float64, dim), settings, &optimize.LBFGS{})
	if ctx.Err() != nil {
		return nil, core.Errorf(core.Invalid, "Training was cancelled.")
	}
	if res == nil {
		return nil, core.Wrap(err, core.Internal, "Logistic regression did not converge: %v.", err)
	}
	l := &Linear{}
	for c := 0; c < k; c++ {
		w := res.X[c*(p+1) : (c+1)*(p+1)]
		l.Weights = append(l.Weights, append([]float64(nil), w[:p]...))
		l.Bias = append(l.Bias, w[p])
	}
	return l, nil
}

func logLoss1(p, t float64) float64 {
	p = math.Min(math.Max(p, 1e-15), 1-1e-15)
	return -(t*math.Log(p) + (1-t)*math.Log(1-p))
}

// progressRecorder reports the objective at every major L-BFGS iteration
// and stops the optimiser when the context is cancelled.
type progressRecorder struct {
	ctx    context.Context
	report func(int, float64)
	step   int
}

func (r *progressRecorder) Init() error { return nil }

func (r *progressRecorder) Record(loc *optimize.Location, op optimize.Operation, _ *optimize.Stats) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if op == optimize.MajorIteration && r.report != nil {
		r.step++
		r.report(r.step, loc.F)
	}
	return nil
}

// fitRidge fits linear regression with an L2 penalty alpha on the weights
// (not the intercept), solving the normal equations by Cholesky.
func fitRidge(X, y []float64, n, p int, alpha float64) (*Linear, error) {
	d := p + 1
	A := mat.NewSymDense(d, nil)
	b := make([]float64, d)
	row := make([]float64, d)
	for i := 0; i < n; i++ {
		copy(row, X[i*p:(i+1)*p])
		row[p] = 1
		for a := 0; a < d; a++ {
			ra := row[a]
			if ra == 0 {
				continue
			}
			b[a] += ra * y[i]
			for c := a; c < d; c++ {
				A.SetSym(a, c, A.At(a, c)+ra*row[c])
			}
		}
	}
	for j := 0; j < p; j++ {
		A.SetSym(j, j, A.At(j, j)+alpha)
	}
	var w mat.VecDense
	var ch mat.Cholesky
	if ch.Factorize(A) {
		if err := ch.SolveVecTo(&w, mat.NewVecDense(d, b)); err != nil {
			return nil, core.Wrap(err, core.Internal, "Linear regression failed: %v.", err)
		}
	} else {
		// Singular without a penalty (e.g. duplicated columns): least squares by SVD.
		if err := w.SolveVec(A, mat.NewVecDense(d, b)); err != nil {
			return nil, core.Errorf(core.Invalid, "Linear regression cannot be solved: the features are linearly dependent; set alpha above 0.")
		}
	}
	l := &Linear{Weights: [][]float64{make([]float64, p)}, Bias: []float64{w.AtVec(p)}}
	for j := 0; j < p; j++ {
		l.Weights[0][j] = w.AtVec(j)
	}
	for _, v := range l.Weights[0] {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, core.Errorf(core.Invalid, "Linear regression produced non-finite weights; check the data for huge values.")
		}
	}
	return l, nil
}

var _ = fmt.Sprint
