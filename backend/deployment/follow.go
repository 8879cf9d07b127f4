package deployment

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/router"
)

// A deployment that follows an alias (usually @champion) serves whatever
// version the alias names: when the alias moves — by hand in the
// registry, through MLflow's registry API, or by a pipeline — the
// follower moves the traffic through the deployment's strategy, a ramp
// with its plan (the default) or, only when the user chose it, a switch
// of all traffic at once.
//
// The setting and what the follower last acted on live in the
// deployment's record, so a move made while Tern was down is noticed at
// the next start: the follower compares the alias with the version it
// last acted on, not with events it may have missed. Events
// ("registry.aliases" on the bus) make it react at once; a slow look at
// every following deployment covers events the bus dropped and
// registries publishing on another bus.
//
// What it does when the alias names a version other than the one it
// last acted on:
//   - a ramp of the new version in progress: nothing (it is on its way);
//   - another ramp in progress (the alias moved again, or a ramp started
//     by hand): that ramp is aborted, then as below;
//   - the new version already takes all traffic: nothing;
//   - otherwise: a ramp to it, or a switch.
//
// A ramp the follower started that is rolled back leaves the alias where
// it is (other deployments may follow it too) and the deployment on the
// version that kept the traffic, said in Follow.Note; the follower acts
// again only when the alias moves again. Ramps started by hand on a
// following deployment are left alone until the alias moves.

// Strategies of a follow.
const (
	StrategyRamp   = "ramp"
	StrategySwitch = "switch"
)

// Follow is a deployment's alias-following setting and the follower's
// bookkeeping.
type Follow struct {
	// Alias of the deployment's model, without "@" (e.g. "champion").
	Alias string `json:"alias"`
	// Strategy is "ramp" (the default) or "switch".
	Strategy string `json:"strategy"`
	// Plan of the ramps the follower starts: the deployment's own plan.
	Plan Plan `json:"plan"`
	// Acted is the version the alias named when the follower last acted
	// (or found nothing to do); a move is a difference from it.
	Acted int `json:"acted,omitempty"`
	// Note is the follower's last word, for the deployment page.
	Note string `json:"note,omitempty"`
}

var followAliasRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}$`)

// SetFollow makes a deployment follow an alias of its model (f nil or
// with no alias: follow nothing). The follower looks at once: if the
// alias names a version other than the one serving, traffic starts
// moving to it.
func (s *Service) SetFollow(id string, f *Follow) (Deployment, error) {
	s.followMu.Lock()
	defer s.followMu.Unlock()
	ld, err := s.get(id)
	if err != nil {
		return Deployment{}, err
	}
	if f != nil && f.Alias == "" {
		f = nil
	}
	if f != nil {
		g := *f
		g.Alias = strings.TrimPrefix(strings.TrimSpace(g.Alias), "@")
		if !followAliasRE.MatchString(g.Alias) || g.Alias == "latest" {
			return Deployment{}, core.Errorf(core.Invalid, "Alias %q is not one a model can have: lower-case letters, digits, '_' or '-', starting with a letter.", f.Alias)
		}
		switch g.Strategy {
		case "":
			g.Strategy = StrategyRamp
		case StrategyRamp, StrategySwitch:
		default:
			return Deployment{}, core.Errorf(core.Invalid, "Strategy %q is unknown: choose a ramp or a switch of all traffic at once.", g.Strategy)
		}
		if len(g.Plan.Stages) == 0 {
			g.Plan = DefaultPlan()
		}
		g.Plan = g.Plan.WithDefaults()
		if err := g.Plan.Validate(); err != nil {
			return Deployment{}, err
		}
		// The version serving now is what the follower has acted on: an
		// alias naming another one moves the traffic at the first look.
		s.mu.Lock()
		g.Acted = servingVersion(ld.d)
		s.mu.Unlock()
		g.Note = ""
		f = &g
	}
	s.mu.Lock()
	ld.d.Follow = f
	d := ld.d
	s.mu.Unlock()
	if err := s.save(d); err != nil {
		return Deployment{}, err
	}
	s.kickFollower()
	return d, nil
}

// servingVersion is the version taking all live traffic, or 0 when the
// traffic is split.
func servingVersion(d Deployment) int {
	for _, sp := range d.Traffic.Split {
		if sp.Weight >= 100-0.01 {
			for _, b := range d.Backends {
				if b.Backend == sp.Backend {
					return b.Version
				}
			}
		}
	}
	return 0
}

// follower runs the follow loop; Start starts it, Close ends it.
type follower struct {
	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// followEvery is the slow look at every following deployment.
const followEvery = 2 * time.Second

func (s *Service) startFollower() {
	if s.follow != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	s.follow = f
	events, unsubscribe := s.cfg.Bus.Subscribe(64)
	go func() {
		defer close(f.done)
		defer unsubscribe()
		// What the follower does is Tern's doing.
		defer audit.Bind(audit.Actor{Face: audit.Tern, Who: "alias follower"})()
		t := time.NewTicker(followEvery)
		defer t.Stop()
		for {
			s.followAll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-f.kick:
			case <-t.C:
			case ev, ok := <-events:
				if !ok {
					return
				}
				if ev.Topic != "registry.aliases" {
					continue
				}
			}
		}
	}()
}

func (s *Service) kickFollower() {
	if f := s.follow; f != nil {
		select {
		case f.kick <- struct{}{}:
		default:
		}
	}
}

func (s *Service) stopFollower() {
	if f := s.follow; f != nil {
		f.cancel()
		<-f.done
	}
}

// followAll looks at every live deployment that follows an alias.
func (s *Service) followAll(ctx context.Context) {
	s.mu.Lock()
	var ids []string
	for id, ld := range s.live {
		if ld.d.Follow != nil {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		s.followOne(ctx, id)
	}
}

// followOne brings one deployment in line with its alias (see the top of
// this file for the rules).
func (s *Service) followOne(ctx context.Context, id string) {
	s.followMu.Lock()
	defer s.followMu.Unlock()
	d, err := s.Get(id)
	if err != nil || d.Follow == nil || d.State != StateRunning {
		return
	}
	f := *d.Follow
	serving := servingVersion(d)
	m, err := s.cfg.Registry.Get(d.Model)
	if err != nil {
		s.noteFollow(id, f.Acted, "The model could not be read: "+core.ErrorMessage(err))
		return
	}
	target := m.Aliases[f.Alias]
	if target == 0 {
		s.noteFollow(id, f.Acted, fmt.Sprintf("%s has no @%s now; v%d keeps the traffic until the alias is set.", d.Model, f.Alias, serving))
		return
	}
	active, ramping := s.ActiveRamp(id)
	if target == f.Acted {
		s.noteFollow(id, f.Acted, s.settledNote(d, f, target, serving, active, ramping))
		return
	}
	if ramping && active.Candidate == target {
		s.noteFollow(id, target, fmt.Sprintf("@%s names v%d; its ramp is in progress.", f.Alias, target))
		return
	}
	if ramping {
		if ended, err := s.abortIfRunning(active, fmt.Sprintf("@%s moved to v%d during the ramp of v%d.", f.Alias, target, active.Candidate)); err == nil {
			serving = ended
		}
	}
	if serving == target {
		s.noteFollow(id, target, fmt.Sprintf("@%s names v%d, which takes all traffic.", f.Alias, target))
		return
	}
	if f.Strategy == StrategySwitch {
		if err := s.followSwitch(ctx, id, f.Alias, target); err != nil {
			s.noteFollow(id, f.Acted, fmt.Sprintf("@%s moved to v%d, but the switch failed: %s", f.Alias, target, core.ErrorMessage(err)))
			return
		}
		s.noteFollow(id, target, fmt.Sprintf("@%s moved to v%d: all traffic switched to it.", f.Alias, target))
		return
	}
	if _, err := s.startRamp(ctx, id, itoa(target), f.Plan, f.Alias); err != nil {
		s.noteFollow(id, f.Acted, fmt.Sprintf("@%s moved to v%d, but its ramp could not start: %s", f.Alias, target, core.ErrorMessage(err)))
		return
	}
	s.noteFollow(id, target, fmt.Sprintf("@%s moved to v%d: a ramp started.", f.Alias, target))
}

// abortIfRunning aborts a ramp the alias has overtaken and returns the
// version that then takes all traffic (its champion).
func (s *Service) abortIfRunning(r Ramp, reason string) (int, error) {
	run := s.runOf(r.Deployment, r.ID)
	if run == nil {
		return 0, core.Errorf(core.Conflict, "The ramp ended meanwhile.")
	}
	ended, err := s.abortRun(run, reason, false)
	if err != nil {
		return 0, err
	}
	return ended.Champion, nil
}

// settledNote says where a deployment stands when the alias has not moved
// since the follower last acted.
func (s *Service) settledNote(d Deployment, f Follow, target, serving int, active Ramp, ramping bool) string {
	switch {
	case ramping && active.Candidate == target:
		return fmt.Sprintf("@%s names v%d; its ramp is in progress.", f.Alias, target)
	case ramping:
		return fmt.Sprintf("A ramp of v%d started by hand is in progress; @%s names v%d.", active.Candidate, f.Alias, target)
	case serving == target:
		return fmt.Sprintf("@%s names v%d, which takes all traffic.", f.Alias, target)
	}
	ramps, _ := s.Ramps(d.ID)
	for _, r := range ramps {
		if r.Candidate == target && r.Done() && r.State != RampPromoted {
			return fmt.Sprintf("@%s names v%d, but its ramp ended %s: %s v%d keeps the traffic until @%s moves again.", f.Alias, target, strings.ReplaceAll(r.State, "_", " "), strings.TrimSuffix(r.Reason, "."), serving, f.Alias)
		}
	}
	return fmt.Sprintf("@%s names v%d; v%d has the traffic (changed by hand). The follower acts when @%s moves again.", f.Alias, target, serving, f.Alias)
}

// followSwitch gives target all traffic at once, launching it first if
// it is not behind the deployment.
func (s *Service) followSwitch(ctx context.Context, id, alias string, target int) error {
	d, err := s.Get(id)
	if err != nil {
		return err
	}
	backend := ""
	for _, b := range d.Backends {
		if b.Version == target {
			backend = b.Backend
		}
	}
	if backend == "" {
		if _, err := s.AddVersion(ctx, id, itoa(target)); err != nil {
			return err
		}
		backend = backendID(target)
	}
	_, err = s.routeAs(id, func(rt *router.Router) error {
		return rt.SetTraffic(router.Traffic{Split: []router.Split{{Backend: backend, Weight: 100}}})
	}, func(before, after router.Traffic) *audit.Record {
		return &audit.Record{Action: "deployment.follow_switch", Before: trafficText(before),
			After: fmt.Sprintf("@%s moved to v%d: all traffic switched; now %s", alias, target, trafficText(after))}
	})
	return err
}

// noteFollow stores what the follower acted on and its note, when either
// changed. It is the follower's bookkeeping, not a change of setting, so
// it leaves no audit record (the actions it notes leave theirs).
func (s *Service) noteFollow(id string, acted int, note string) {
	ld, err := s.get(id)
	if err != nil {
		return
	}
	s.mu.Lock()
	f := ld.d.Follow
	if f == nil || (f.Acted == acted && f.Note == note) {
		s.mu.Unlock()
		return
	}
	g := *f
	g.Acted, g.Note = acted, note
	ld.d.Follow = &g
	d := ld.d
	s.mu.Unlock()
	if err := s.saveAs(d, quiet); err != nil {
		s.cfg.Log.Warn("the alias follower could not save its note", "deployment", id, "err", err)
	}
}

// FollowersOf names the deployments that follow @alias of a model: the
// registry refuses to delete or archive the version the alias names.
func (s *Service) FollowersOf(model, alias string) []string {
	all, _ := s.List()
	var out []string
	for _, d := range all {
		if d.Model == model && d.Follow != nil && d.Follow.Alias == alias {
			out = append(out, d.Name)
		}
	}
	return out
}
