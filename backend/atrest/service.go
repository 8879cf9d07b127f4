package atrest

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// Job states.
const (
	Running   = "running"
	Ready     = "ready" // the copy is complete; the switch happens at the next start
	Failed    = "failed"
	Cancelled = "cancelled"
)

// Job is one run of Prepare.
type Job struct {
	ID       string    `json:"id"`
	State    string    `json:"state"`
	Kind     string    `json:"kind"` // Passphrase or Keyring
	Progress Progress  `json:"progress"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended,omitzero"`
	Error    string    `json:"error,omitempty"`
}

// Status is what Settings → Data shows.
type Status struct {
	// Encrypted: this data dir is encrypted (and was opened with its key).
	Encrypted bool `json:"encrypted"`
	// Kind is how the key is kept (Passphrase or Keyring) when encrypted
	// or pending.
	Kind    string    `json:"kind,omitempty"`
	Created time.Time `json:"created,omitzero"`
	Rotated time.Time `json:"rotated,omitzero"`
	// Pending: an encrypted copy is ready; restarting Tern switches to it
	// (bringing over what changed since).
	Pending bool `json:"pending"`
	// Job is the running or last Prepare of this session.
	Job *Job `json:"job,omitempty"`
	// Dir is the data dir.
	Dir string `json:"dir"`
}

// Service is Settings' face of encryption at rest: status, encrypting
// the running data dir (progress, cancel), key rotation.
type Service struct {
	dir string
	st  *store.Store
	bus *core.Bus

	mu     sync.Mutex
	job    *Job
	cancel context.CancelFunc
	done   chan struct{}
}

// NewService serves the data dir dir, whose store is st.
func NewService(dir string, st *store.Store, bus *core.Bus) *Service {
	if bus == nil {
		bus = core.NewBus()
	}
	return &Service{dir: dir, st: st, bus: bus}
}

// Status reads the key file and the job.
func (s *Service) Status() (Status, error) {
	st := Status{Dir: s.dir}
	kf, err := ReadKeyFile(s.dir)
	if err != nil {
		return st, err
	}
	if kf != nil {
		st.Encrypted, st.Kind, st.Created, st.Rotated = true, kf.KEK.Kind, kf.Created, kf.Rotated
	} else if Pending(s.dir) {
		st.Pending = true
		if staged, err := ReadKeyFile(filepath.Join(s.dir, StagingDir)); err == nil && staged != nil {
			st.Kind, st.Created = staged.KEK.Kind, staged.Created
		}
	}
	s.mu.Lock()
	if s.job != nil {
		j := *s.job
		st.Job = &j
	}
	s.mu.Unlock()
	return st, nil
}

func (s *Service) publish(j Job) { s.bus.Publish("encryption.job", j) }

// Encrypt starts encrypting the data dir with a new key kept as secret
// says, and returns at once: the encrypted copy is written beside the data
// (progress on the "encryption.job" event and in Status), and the switch
// happens when Tern next starts. One record: encryption.prepare.
func (s *Service) Encrypt(ctx context.Context, secret Secret) (Job, error) {
	if kf, err := ReadKeyFile(s.dir); err != nil || kf != nil {
		if err != nil {
			return Job{}, err
		}
		return Job{}, core.Errorf(core.Conflict, "This data folder is already encrypted.")
	}
	s.mu.Lock()
	if s.job != nil && s.job.State == Running {
		s.mu.Unlock()
		return Job{}, core.Errorf(core.Conflict, "The data folder is already being encrypted.")
	}
	s.mu.Unlock()
	kf, keys, err := NewKeyFile(secret)
	if err != nil {
		return Job{}, err
	}
	j := &Job{ID: core.NewID(), State: Running, Kind: secret.Kind, Started: time.Now().UTC()}
	if err := audit.Write(s.st.DB, audit.Record{Action: "encryption.prepare",
		Objects: []audit.Object{{Kind: "data_dir", ID: s.dir, Name: "data folder"}},
		After:   "an encrypted copy, key kept by " + secret.Kind}); err != nil {
		kf.KEK.dropSecret()
		return Job{}, core.Wrap(err, core.Internal, "Tern could not record the change.")
	}
	jctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.mu.Lock()
	s.job, s.cancel, s.done = j, cancel, make(chan struct{})
	done := s.done
	s.mu.Unlock()
	go func() {
		defer close(done)
		defer cancel()
		var last time.Time
		err := Prepare(jctx, s.dir, s.st, kf, keys, func(p Progress) {
			s.mu.Lock()
			j.Progress = p
			cp := *j
			s.mu.Unlock()
			if time.Since(last) > 100*time.Millisecond || p.Phase == "ready" {
				last = time.Now()
				s.publish(cp)
			}
		})
		s.mu.Lock()
		j.Ended = time.Now().UTC()
		switch {
		case err == nil:
			j.State = Ready
		case jctx.Err() != nil:
			j.State = Cancelled
		default:
			j.State, j.Error = Failed, core.ErrorMessage(err)
		}
		cp := *j
		s.mu.Unlock()
		if err != nil {
			kf.KEK.dropSecret()
		}
		s.publish(cp)
	}()
	return *j, nil
}

// Wait blocks until the running job (if any) ends.
func (s *Service) Wait() {
	s.mu.Lock()
	d := s.done
	s.mu.Unlock()
	if d != nil {
		<-d
	}
}

// Cancel stops a running encryption, or discards a copy waiting for the
// restart; the data dir stays unencrypted. False when there is neither.
// One record (encryption.cancel) when something was cancelled.
func (s *Service) Cancel() (bool, error) {
	s.mu.Lock()
	running := s.job != nil && s.job.State == Running
	cancel := s.cancel
	s.mu.Unlock()
	if !running && !Pending(s.dir) {
		return false, nil
	}
	if running {
		cancel()
		s.Wait()
	}
	if err := Cancel(s.dir); err != nil {
		return false, core.Wrap(err, core.Unavailable, "Tern could not remove the encrypted copy: %v", err)
	}
	if staged, _ := ReadKeyFile(filepath.Join(s.dir, StagingDir)); staged != nil {
		staged.KEK.dropSecret()
	}
	s.mu.Lock()
	if s.job != nil && s.job.State == Ready {
		s.job.State = Cancelled
	}
	s.mu.Unlock()
	err := audit.Write(s.st.DB, audit.Record{Action: "encryption.cancel",
		Objects: []audit.Object{{Kind: "data_dir", ID: s.dir, Name: "data folder"}}, Before: "encryption under way", After: "not encrypted"})
	if err != nil {
		return true, core.Wrap(err, core.Internal, "Tern could not record the change.")
	}
	return true, nil
}

// Rotate re-wraps the data key under a new KEK made from next, after
// checking current. Cheap: no data is re-encrypted (see the package
// comment). One record: encryption.rotate.
func (s *Service) Rotate(current, next Secret) (Status, error) {
	kf, err := ReadKeyFile(s.dir)
	if err != nil {
		return Status{}, err
	}
	if kf == nil {
		return Status{}, core.Errorf(core.Invalid, "This data folder is not encrypted; there is no key to rotate.")
	}
	if current.Kind == "" {
		current.Kind = kf.KEK.Kind
	}
	nk, err := Rotate(s.dir, current, next)
	if err != nil {
		return Status{}, err
	}
	if err := audit.Write(s.st.DB, audit.Record{Action: "encryption.rotate",
		Objects: []audit.Object{{Kind: "data_dir", ID: s.dir, Name: "data folder"}},
		Before:  "key kept by " + kf.KEK.Kind, After: "key kept by " + nk.KEK.Kind + " (data key re-wrapped; data not re-encrypted)"}); err != nil {
		return Status{}, core.Wrap(err, core.Internal, "The key was rotated but Tern could not record it.")
	}
	return s.Status()
}

// Close cancels a running job and waits for it (its copy is removed).
func (s *Service) Close() {
	s.mu.Lock()
	c := s.cancel
	s.mu.Unlock()
	if c != nil {
		c()
	}
	s.Wait()
}
