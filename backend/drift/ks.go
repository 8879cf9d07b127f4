package drift

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// ksExactMaxN is where scipy's ks_2samp(method="auto") stops computing the
// exact null distribution and switches to the asymptotic one.
const ksExactMaxN = 10000

// ksStatistic is the two-sample Kolmogorov–Smirnov D of two weighted sorted
// samples: xs/xw (values ascending, distinct, with counts) against ys/yw.
// The CDF difference is evaluated at every distinct value of either sample,
// with cnt/n computed as a float division exactly as scipy does, so the
// statistic is bit-identical to scipy.stats.ks_2samp on the raw values.
func ksStatistic(xs, xw []float64, nx float64, ys, yw []float64, ny float64) float64 {
	maxS, minS := math.Inf(-1), math.Inf(1)
	eachStep(xs, xw, ys, yw, func(_, _, _, cx, cy float64) {
		d := cx/nx - cy/ny
		if d > maxS {
			maxS = d
		}
		if d < minS {
			minS = d
		}
	})
	neg := math.Min(math.Max(-minS, 0), 1)
	if neg > maxS {
		return neg
	}
	return maxS
}

// eachStep walks the union of two sorted samples (weighted by xw and yw;
// nil weighs 1) in order: at each distinct value v, step gets v and the
// cumulative weights of both samples below v (bx, by) and up to and
// including v (cx, cy). KS and Wasserstein read their ECDFs this way.
func eachStep(xs, xw, ys, yw []float64, step func(v, bx, by, cx, cy float64)) {
	var cx, cy float64
	i, j := 0, 0
	for i < len(xs) || j < len(ys) {
		var v float64
		if j >= len(ys) || (i < len(xs) && xs[i] < ys[j]) {
			v = xs[i]
		} else {
			v = ys[j]
		}
		bx, by := cx, cy
		for i < len(xs) && xs[i] <= v {
			cx += weight(xw, i)
			i++
		}
		for j < len(ys) && ys[j] <= v {
			cy += weight(yw, j)
			j++
		}
		step(v, bx, by, cx, cy)
	}
}

func weight(w []float64, i int) float64 {
	if w == nil {
		return 1
	}
	return w[i]
}

// ksPValue is the two-sided p-value of D for sample sizes n1, n2 the way
// scipy.stats.ks_2samp(method="auto") computes it: the exact distribution
// when both samples have at most 10,000 values (D is then snapped to the
// lattice h/lcm(n1,n2), which scipy also reports), otherwise the one-sample
// Kolmogorov distribution at n = round(n1·n2/(n1+n2)). It returns the
// possibly snapped D, the p-value and the method used.
func ksPValue(d float64, n1, n2 int) (float64, float64, string) {
	if n1 <= 0 || n2 <= 0 {
		return d, math.NaN(), ""
	}
	if max(n1, n2) <= ksExactMaxN {
		g := gcd(n1, n2)
		lcm := float64(n1/g) * float64(n2)
		h := int(math.RoundToEven(d * lcm))
		d = float64(h) / lcm
		if h == 0 {
			return d, 1, "exact"
		}
		var p float64
		if n1 == n2 {
			p = ksProbOutsideSquare(n1, h)
		} else {
			p = ksOuterProbInside(n1, n2, g, h)
		}
		if !math.IsNaN(p) && !math.IsInf(p, 0) && p >= 0 && p <= 1 {
			return d, p, "exact"
		}
	}
	m, n := float64(max(n1, n2)), float64(min(n1, n2))
	en := m * n / (m + n)
	p := kolmogornSF(int(math.RoundToEven(en)), d)
	return d, clip01(p), "asymptotic"
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func clip01(p float64) float64 { return math.Min(math.Max(p, 0), 1) }

// ksProbOutsideSquare is Pr(D_{n,n} >= h/n), the alternating binomial sum
// evaluated Horner-style to avoid cancellation.
func ksProbOutsideSquare(n, h int) float64 {
	P := 0.0
	for k := n / h; k >= 0; k-- {
		p1 := 1.0
		for j := 0; j < h; j++ {
			p1 = float64(n-k*h-j) * p1 / float64(n+k*h+j+1)
		}
		P = p1 * (1 - P)
	}
	return 2 * P
}

// ksOuterProbInside is 1 − the share of lattice paths from (0,0) to (m,n)
// that stay strictly inside |x/m − y/n| < h/lcm, computed directly as the
// complement (Hodges' inside method with Viehmann's stable recursion).
func ksOuterProbInside(m, n, g, h int) float64 {
	if m < n {
		m, n = n, m
	}
	mg, ng := m/g, n/g
	minj, maxj := 0, min(int(math.Ceil(float64(h)/float64(mg))), n+1)
	curlen := maxj - minj
	lenA := min(2*maxj+2, n+1)
	A := make([]float64, lenA)
	for i := range A {
		A[i] = 1
	}
	for i := minj; i < maxj; i++ {
		A[i] = 0
	}
	for i := 1; i <= m; i++ {
		lastminj, lastlen := minj, curlen
		minj = max(int(math.Floor(float64(ng*i-h)/float64(mg)))+1, 0)
		minj = min(minj, n)
		maxj = min(int(math.Ceil(float64(ng*i+h)/float64(mg))), n+1)
		if maxj <= minj {
			return 1
		}
		val := 1.0
		if minj == 0 {
			val = 0
		}
		for jj := 0; jj < maxj-minj; jj++ {
			j := jj + minj
			val = (A[jj+minj-lastminj]*float64(i) + val*float64(j)) / float64(i+j)
			A[jj] = val
		}
		curlen = maxj - minj
		if lastlen > curlen {
			for k := maxj - minj; k < maxj-minj+(lastlen-curlen) && k < len(A); k++ {
				A[k] = 1
			}
		}
	}
	return A[maxj-minj-1]
}

// kolmogornSF is Pr(D_n > x) for the one-sample two-sided Kolmogorov
// statistic, choosing among exact and approximate algorithms by region as
// Simard & L'Ecuyer (2011) recommend and as scipy.stats.kstwo.sf does.
func kolmogornSF(n int, x float64) float64 {
	if n <= 0 || math.IsNaN(x) {
		return math.NaN()
	}
	if x >= 1 {
		return 0
	}
	if x <= 0 {
		return 1
	}
	nf := float64(n)
	t := nf * x
	if t <= 1 { // Ruben–Gambino: 1/2n <= x <= 1/n
		if t <= 0.5 {
			return 1
		}
		var prob float64
		if n <= 140 {
			prob = 1
			for i := 1; i <= n; i++ {
				prob *= float64(i) * (1 / nf) * (2*t - 1)
			}
		} else {
			prob = math.Exp(logNFactorialDivNPowN(nf) + nf*math.Log(2*t-1))
		}
		return clip01(1 - prob)
	}
	if t >= nf-1 {
		return clip01(2 * math.Pow(1-x, nf))
	}
	if x >= 0.5 {
		return clip01(2 * smirnovSF(n, x))
	}
	nxsq := t * x
	if n <= 140 {
		if nxsq <= 0.754693 {
			return clip01(1 - kolmogornDMTW(n, x))
		}
		if nxsq <= 4 {
			return clip01(1 - kolmogornPomeranz(n, x))
		}
		return clip01(2 * smirnovSF(n, x))
	}
	if nxsq >= 370 {
		return 0
	}
	if nxsq >= 2.2 {
		return clip01(2 * smirnovSF(n, x))
	}
	var cdf float64
	if n <= 100000 && nf*math.Pow(x, 1.5) <= 1.4 {
		cdf = kolmogornDMTW(n, x)
	} else {
		cdf = kolmogornPelzGood(n, x)
	}
	return clip01(1 - cdf)
}

var stirlingCoeffs = []float64{-2.955065359477124183e-2, 6.4102564102564102564e-3,
	-1.9175269175269175269e-3, 8.4175084175084175084e-4,
	-5.952380952380952381e-4, 7.9365079365079365079e-4,
	-2.7777777777777777778e-3, 8.3333333333333333333e-2}

// logNFactorialDivNPowN is log(n!/n^n) by Stirling's series.
func logNFactorialDivNPowN(n float64) float64 {
	rn := 1 / n
	x := rn / n
	poly := 0.0
	for _, c := range stirlingCoeffs {
		poly = poly*x + c
	}
	return math.Log(n)/2 - n + math.Log(2*math.Pi)/2 + rn*poly
}

const (
	e128  = 128
	ep128 = 0x1p128
	em128 = 0x1p-128
)

// kolmogornDMTW is Pr(D_n <= d) by Durbin's matrix method as Marsaglia,
// Tsang and Wang (2003) evaluate it, with explicit exponent tracking.
func kolmogornDMTW(n int, d float64) float64 {
	if d >= 1 {
		return 1
	}
	nd := float64(n) * d
	if nd <= 0.5 {
		return 0
	}
	k := int(math.Ceil(nd))
	h := float64(k) - nd
	m := 2*k - 1
	v := make([]float64, m)
	w := make([]float64, m)
	fac := 1.0
	for j := 1; j <= m; j++ {
		v[j-1] = 1 - math.Pow(h, float64(j))
		w[j-1] = fac
		fac /= float64(j)
		v[j-1] *= fac
	}
	tt := math.Pow(math.Max(2*h-1, 0), float64(m)) - 2*math.Pow(h, float64(m))
	v[m-1] = (1 + tt) * fac
	H := mat.NewDense(m, m, nil)
	for i := 1; i < m; i++ {
		for r := i - 1; r < m; r++ {
			H.Set(r, i, w[r-(i-1)])
		}
	}
	for r := 0; r < m; r++ {
		H.Set(r, 0, v[r])
	}
	for c := 0; c < m; c++ {
		H.Set(m-1, c, v[m-1-c])
	}
	pw := mat.NewDense(m, m, nil)
	for i := 0; i < m; i++ {
		pw.Set(i, i, 1)
	}
	var tmp mat.Dense
	nn := n
	expnt, hexpnt := 0, 0
	for nn > 0 {
		if nn%2 == 1 {
			tmp.Mul(pw, H)
			pw.Copy(&tmp)
			expnt += hexpnt
		}
		tmp.Mul(H, H)
		H.Copy(&tmp)
		hexpnt *= 2
		if math.Abs(H.At(k-1, k-1)) > ep128 {
			H.Scale(1/ep128, H)
			hexpnt += e128
		}
		nn /= 2
	}
	p := pw.At(k-1, k-1)
	for i := 1; i <= n; i++ {
		p = float64(i) * p / float64(n)
		if math.Abs(p) < em128 {
			p *= ep128
			expnt -= e128
		}
	}
	if expnt != 0 {
		p = math.Ldexp(p, expnt)
	}
	return clip01(p)
}

func pomeranzJ1J2(i, n, ll, ceilf, roundf int) (int, int) {
	var j1, j2 int
	if i == 0 {
		j1, j2 = -ll-ceilf-1, ll+ceilf-1
	} else {
		ip1div2, ip1mod2 := (i+1)/2, (i+1)%2
		if ip1mod2 == 0 {
			if ip1div2 == n+1 {
				j1, j2 = n-ll-ceilf-1, n+ll+ceilf-1
			} else {
				j1, j2 = ip1div2-1-ll-roundf-1, ip1div2+ll-1+ceilf-1
			}
		} else {
			j1, j2 = ip1div2-1-ll-1, ip1div2+ll+roundf-1
		}
	}
	return max(j1+2, 0), min(j2, n)
}

// kolmogornPomeranz is Pr(D_n <= x) by Pomeranz's (1974) recursion.
func kolmogornPomeranz(n int, x float64) float64 {
	nf := float64(n)
	t := nf * x
	ll := int(math.Floor(t))
	f := t - float64(ll)
	g := math.Min(f, 1-f)
	ceilf, roundf := 0, 0
	if f > 0 {
		ceilf = 1
	}
	if f > 0.5 {
		roundf = 1
	}
	npwrs := 2 * (ll + 1)
	gpower := make([]float64, npwrs)
	twogpower := make([]float64, npwrs)
	onem2gpower := make([]float64, npwrs)
	gpower[0], twogpower[0], onem2gpower[0] = 1, 1, 1
	expnt := 0
	gn, tgn, omgn := g/nf, 2*g/nf, (1-2*g)/nf
	for m := 1; m < npwrs; m++ {
		gpower[m] = gpower[m-1] * gn / float64(m)
		twogpower[m] = twogpower[m-1] * tgn / float64(m)
		onem2gpower[m] = onem2gpower[m-1] * omgn / float64(m)
	}
	V0 := make([]float64, npwrs)
	V1 := make([]float64, npwrs)
	V1[0] = 1
	V0s, V1s := 0, 0
	j1, j2 := pomeranzJ1J2(0, n, ll, ceilf, roundf)
	for i := 1; i < 2*n+2; i++ {
		k1 := j1
		V0, V1 = V1, V0
		V0s, V1s = V1s, V0s
		for q := range V1 {
			V1[q] = 0
		}
		j1, j2 = pomeranzJ1J2(i, n, ll, ceilf, roundf)
		var pwrs []float64
		switch {
		case i == 1 || i == 2*n+1:
			pwrs = gpower
		case i%2 == 1:
			pwrs = twogpower
		default:
			pwrs = onem2gpower
		}
		ln2 := j2 - k1 + 1
		if ln2 > 0 {
			a := V0[k1-V0s : k1-V0s+ln2]
			b := pwrs[:ln2]
			convStart := j1 - k1
			convLen := j2 - j1 + 1
			vmax := 0.0
			for q := 0; q < convLen; q++ {
				kk := convStart + q
				s := 0.0
				for ia := max(0, kk-(ln2-1)); ia <= min(kk, ln2-1); ia++ {
					s += a[ia] * b[kk-ia]
				}
				V1[q] = s
				vmax = math.Max(vmax, s)
			}
			if vmax > 0 && vmax < em128 {
				for q := range V1 {
					V1[q] *= ep128
				}
				expnt -= e128
			}
			V1s = V0s + j1 - k1
		}
	}
	ans := V1[n-V1s]
	for m := 1; m <= n; m++ {
		if math.Abs(ans) > ep128 {
			ans *= em128
			expnt += e128
		}
		ans *= float64(m)
	}
	if expnt != 0 {
		ans = math.Ldexp(ans, expnt)
	}
	return clip01(ans)
}

// kolmogornPelzGood is the Pelz–Good (1976) approximation of Pr(D_n <= x).
func kolmogornPelzGood(n int, x float64) float64 {
	if x <= 0 {
		return 0
	}
	if x >= 1 {
		return 1
	}
	nf := float64(n)
	z := math.Sqrt(nf) * x
	z2, z3, z4, z6 := z*z, z*z*z, z*z*z*z, math.Pow(z, 6)
	pi2, pi4, pi6 := math.Pi*math.Pi, math.Pow(math.Pi, 4), math.Pow(math.Pi, 6)
	qlog := -pi2 / 8 / z2
	if qlog < -708 {
		return 0
	}
	q := math.Exp(qlog)
	k1a := -z2
	k1b := pi2 / 4
	k2a := 6*z6 + 2*z4
	k2b := (2*z4 - 5*z2) * pi2 / 4
	k2c := pi4 * (1 - 2*z2) / 16
	k3d := pi6 * (5 - 30*z2) / 64
	k3c := pi4 * (-60*z2 + 212*z4) / 16
	k3b := pi2 * (135*z4 - 96*z6) / 4
	k3a := -30*z6 - 90*math.Pow(z, 8)
	var K [4]float64
	maxk := int(math.Ceil(16 * z / math.Pi))
	for k := maxk; k > 0; k-- {
		m := float64(2*k - 1)
		m2, m4, m6 := m*m, math.Pow(m, 4), math.Pow(m, 6)
		qp := math.Pow(q, float64(8*k))
		c := [4]float64{1, k1a + k1b*m2, k2a + k2b*m2 + k2c*m4, k3a + k3b*m2 + k3c*m4 + k3d*m6}
		for i := range K {
			K[i] = K[i]*qp + c[i]
		}
	}
	den := [4]float64{z, 6 * z4, 72 * math.Pow(z, 7), 6480 * math.Pow(z, 10)}
	sq2pi := math.Sqrt(2 * math.Pi)
	for i := range K {
		K[i] = K[i] * q * sq2pi / den[i]
	}
	q = math.Exp(-pi2 / 2 / z2)
	sqrt3z := math.Sqrt(3) * z
	var k2extra, k3extra float64
	for k := maxk; k > 0; k-- {
		kf := float64(k)
		ks2 := kf * kf
		qp := math.Pow(q, ks2)
		kspi := math.Pi * kf
		k2extra += ks2 * qp
		k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks2 * qp
	}
	K[2] += k2extra * pi2 * sq2pi / (-36 * z3)
	K[3] += k3extra * pi2 * sq2pi / (216 * z6)
	sum := 0.0
	for i := range K {
		sum += K[i] / math.Pow(nf, float64(i)/2)
	}
	return sum
}

// smirnovSF is Pr(D+_n > x) for the one-sided statistic, by the
// Birnbaum–Tingey sum. Every term is positive, so it is summed in log space
// in float64; that keeps ~1e-10 relative accuracy, far inside what a
// p-value needs, without the double-double arithmetic cephes uses.
func smirnovSF(n int, x float64) float64 {
	if n <= 0 || math.IsNaN(x) || x < 0 || x > 1 {
		return math.NaN()
	}
	if n == 1 {
		return 1 - x
	}
	if x == 0 {
		return 1
	}
	if x == 1 {
		return 0
	}
	nf := float64(n)
	// floor(n·x) and its remainder, exactly: the product's rounding error
	// is recovered with an FMA.
	hi := nf * x
	lo := math.FMA(nf, x, -hi)
	fl := math.Floor(hi)
	if hi == fl && lo < 0 {
		fl--
	}
	alpha := (hi - fl) + lo
	nxfl := int(fl)
	if alpha >= 1 {
		nxfl++
		alpha = 0
	}
	if nxfl == 0 || (nxfl == 1 && alpha == 0) {
		return 1 - x*math.Pow(1+x, nf-1)
	}
	if -2*nf*x*x < -708.39641853226410622 {
		return 0
	}
	if nxfl >= n-1 {
		return math.Pow(1-x, nf)
	}
	if n > 1000000 {
		logp := -math.Pow(6*nf*x+1, 2) / 18 / nf
		if logp < -math.Ln2 {
			return math.Exp(logp)
		}
		return 1 + math.Expm1(logp)
	}
	last := n - nxfl - 1
	// v runs over 0..floor(n(1-x)), excluding a term whose (1-x-v/n) is 0.
	// log C(n, v) is carried from term to term (one log per step instead of
	// three log-gammas) and re-anchored every 1024 terms so rounding cannot
	// accumulate.
	lgn, _ := math.Lgamma(nf + 1)
	logC := 0.0
	sum, peak := 0.0, 0.0
	for v := 0; v <= last; v++ {
		vf := float64(v)
		a := (nf-vf)/nf - x
		if a <= 0 {
			break
		}
		if v%1024 == 0 {
			lgv, _ := math.Lgamma(vf + 1)
			lgnv, _ := math.Lgamma(nf - vf + 1)
			logC = lgn - lgv - lgnv
		} else {
			logC += math.Log((nf - vf + 1) / vf)
		}
		lt := logC + (vf-1)*math.Log(x+vf/nf) + (nf-vf)*math.Log(a)
		term := math.Exp(lt)
		sum += term
		if term > peak {
			peak = term
		} else if term < peak*1e-18 {
			break
		}
	}
	return clip01(x * sum)
}
