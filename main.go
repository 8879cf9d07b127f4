// Tern is a desktop MLOps studio. This file is the composition root: it
// reads flags, opens the store, builds every service by constructor and
// hands them to the two faces — the Wails window (`tern`) and browser
// mode (`tern serve`). It holds no logic of its own.
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/tern-studio/tern/app"
	"github.com/tern-studio/tern/backend/atrest"
	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/backup"
	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/deployment"
	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/engine"
	"github.com/tern-studio/tern/backend/evaluate"
	"github.com/tern-studio/tern/backend/explanation"
	"github.com/tern-studio/tern/backend/fairness"
	"github.com/tern-studio/tern/backend/httpapi"
	"github.com/tern-studio/tern/backend/mlflowapi"
	"github.com/tern-studio/tern/backend/monitor"
	"github.com/tern-studio/tern/backend/pipeline"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/runarchive"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/sealed"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/sweep"
	"github.com/tern-studio/tern/backend/system"
	"github.com/tern-studio/tern/backend/tracking"
)

//go:embed all:frontend/dist
var assets embed.FS

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const defaultAddr = "127.0.0.1:7733"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	mode := "desktop"
	if len(args) > 0 && !isFlag(args[0]) {
		mode, args = args[0], args[1:]
	}
	fl := flag.NewFlagSet("tern "+mode, flag.ContinueOnError)
	dataDir := fl.String("data-dir", "", "where Tern keeps its data (default: the OS user data dir, or $TERN_DATA_DIR)")
	addr := fl.String("addr", defaultAddr, "address of the HTTP face (browser mode and the MLflow-compatible API)")
	newToken := fl.Bool("new-token", false, "replace the access token with a new random one")
	encrypt := fl.String("encrypt", "", "first start only: encrypt the new data dir, the key kept in the system keyring (\"keyring\") or derived from a passphrase given in $TERN_PASSPHRASE (\"passphrase\")")
	verbose := fl.Bool("v", false, "log debug detail")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	switch mode {
	case "version":
		fmt.Println("tern", version)
		return 0
	case "restore":
		return restore(fl.Args())
	case "serve", "desktop":
	default:
		fmt.Fprintf(os.Stderr, "tern: unknown command %q (use `tern`, `tern serve`, `tern restore` or `tern version`)\n", mode)
		return 2
	}

	env, err := open(*dataDir, mode, *newToken, *encrypt, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tern:", core.ErrorMessage(err))
		return 1
	}
	defer env.close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if mode == "serve" {
		return env.serve(ctx, *addr)
	}
	return env.desktop(ctx, *addr)
}

// restore is `tern restore BACKUP-FILE NEW-DATA-DIR`: it needs no running
// Tern and opens nothing but the new folder.
func restore(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tern restore BACKUP-FILE NEW-DATA-DIR")
		return 2
	}
	fmt.Printf("Restoring %s into %s …\n", args[0], args[1])
	sum, err := backup.Restore(context.Background(), args[0], args[1], nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tern:", core.ErrorMessage(err))
		return 1
	}
	fmt.Printf("Restored %d records, %d stored files (%d bytes, every one checked against its hash) and %d other files (%d bytes), as of %s.\n"+
		"Start Tern on it with: tern --data-dir %s\n", sum.Records, sum.Blobs, sum.BlobBytes, sum.Files, sum.FileBytes, sum.Created.Local().Format("2006-01-02 15:04:05"), sum.Path)
	return 0
}

func isFlag(s string) bool { return len(s) > 0 && s[0] == '-' }

// environment is everything built once per process.
type environment struct {
	log         *slog.Logger
	dataDir     string
	store       *store.Store
	audit       *audit.Log
	bus         *core.Bus
	docker      *docker.Client // nil when no client could be made
	engines     *engine.Service
	token       string
	shell       *app.Shell
	system      *system.Service
	blobs       *blob.Store
	encryption  *atrest.Service
	datasets    *dataset.Service
	tracking    *tracking.Service
	runner      *runner.Runner
	registry    *registry.Service
	deployments *deployment.Service
	monitoring  *monitor.Service
	sweeps      *sweep.Service
	pipelines   *pipeline.Engine
	backups     *backup.Service
	retention   *predlog.Retention
	bindings    []any
	routes      []httpapi.Route

	// Background loops (reattach, monitor schedules) run under ctx; close
	// cancels it and waits for them before closing what they write to.
	ctx    context.Context
	cancel context.CancelFunc
	loops  sync.WaitGroup
}

// background runs fn under the environment's context until close.
func (e *environment) background(fn func(ctx context.Context)) {
	e.loops.Add(1)
	go func() {
		defer e.loops.Done()
		defer audit.Bind(audit.Actor{Face: audit.Tern})() // schedules and start-up recovery are Tern's doing
		fn(e.ctx)
	}()
}

func open(dataDir, mode string, newToken bool, encrypt string, log *slog.Logger) (*environment, error) {
	moved := ""
	if dataDir == "" {
		d, err := store.DefaultDataDir()
		if err != nil {
			return nil, err
		}
		dataDir = d
		if os.Getenv("TERN_DATA_DIR") == "" {
			// Tern once kept its data in the config folder: move it, once.
			old := store.LegacyDataDir()
			switch note, err := store.MoveLegacy(old, d); {
			case err != nil:
				// Nothing was lost; keep working where the data is.
				log.Warn("data folder not moved; using it where it is", "from", old, "to", d, "err", core.ErrorMessage(err))
				dataDir = old
			case note != "":
				log.Info(note)
				moved = note
			}
		}
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Tern cannot create its data folder %s.", dataDir)
	}
	// Before anything opens the store: finish or roll back an encryption
	// left half-done, and unlock an encrypted data dir.
	keys, err := atrest.Open(context.Background(), dataDir, atrest.EnvSecret, log, nil)
	if err != nil {
		return nil, err
	}
	if encrypt != "" && keys == nil {
		if keys, err = atrest.InitEmpty(dataDir, atrest.Secret{Kind: encrypt, Passphrase: os.Getenv(atrest.PassphraseEnv)}); err != nil {
			return nil, err
		}
	}
	sopt := store.Options{Logger: log}
	var benc blob.Encryption
	var sealing sealed.Key
	if keys != nil {
		sopt.EncryptionKey = keys.Store
		benc, sealing = blob.Encryption{Files: keys.Files, Names: keys.Names}, keys.Files
	}
	st, err := store.Open(dataDir, sopt)
	if err != nil {
		return nil, err
	}
	face := "desktop"
	if mode == "serve" {
		face = "browser"
	}
	e := &environment{log: log, dataDir: dataDir, store: st, bus: core.NewBus()}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok { // whatever was built so far is taken down again
			e.close()
		}
	}()
	// Unbound changes on the desktop are the window's: Wails calls bound
	// methods on goroutines Tern does not start (see backend/audit).
	if mode != "serve" {
		audit.SetDefault(audit.Actor{Face: audit.Window})
	}
	if e.audit, err = audit.Open(st); err != nil {
		return nil, err
	}
	if e.token, err = httpapi.LoadOrCreateToken(dataDir, newToken); err != nil {
		return nil, err
	}
	if moved != "" {
		if err := audit.Write(st.DB, audit.Record{Actor: audit.Actor{Face: audit.Tern, Who: "start-up"}, Action: "data_dir.move",
			Objects: []audit.Object{{Kind: "data_dir", ID: dataDir, Name: "data folder"}}, After: moved}); err != nil {
			return nil, err
		}
	}
	if newToken {
		if err := audit.Write(st.DB, audit.Record{Actor: audit.Actor{Face: audit.Tern, Who: "tern --new-token"}, Action: "token.rotate",
			Objects: []audit.Object{{Kind: "token", ID: "access", Name: "access token"}}, After: "a new random token"}); err != nil {
			return nil, err
		}
	}
	e.shell = app.NewShell(e.bus, log)
	// One Docker client for the runner, deployments and the status bar; a
	// stopped engine is found out when they ping it, not here.
	if e.docker, err = docker.Connect(""); err != nil {
		log.Warn("Docker client", "err", err)
	}
	e.system = system.New(version, face, dataDir, e.docker)
	localHost := os.Getenv("DOCKER_HOST")
	if localHost == "" {
		localHost = "unix:///var/run/docker.sock"
	}
	e.engines = engine.New(st, e.docker, localHost) // Settings → Engines; jobs name one to run there
	if e.blobs, err = blob.OpenEncrypted(filepath.Join(dataDir, "blobs"), st, benc); err != nil {
		return nil, err
	}
	blobs := e.blobs
	e.datasets = dataset.NewService(st, blobs, e.bus, dataDir)
	e.backups = backup.NewService(backup.Source{Store: st, Blobs: blobs, DataDir: dataDir, TernVersion: version}, nil)
	e.background(func(ctx context.Context) { e.backups.RunSchedule(ctx, time.Minute) }) // scheduled backups
	if e.tracking, err = tracking.NewService(st, e.bus, dataDir); err != nil {
		return nil, err
	}
	e.tracking.Sealing = sealing
	e.tracking.Start(e.ctx) // crash detection for runs with heartbeats
	mlflow := mlflowapi.New(e.tracking, log)
	mlflow.Datasets = e.datasets // log-inputs links datasets to versions by digest
	e.routes = append(e.routes, mlflow.Routes()...)
	jobsDir := "" // with encryption, jobs' plaintext folders live outside the data dir
	if keys != nil {
		jobsDir = filepath.Join(sealed.ScratchRoot(), "jobs")
	}
	if e.runner, err = runner.New(runner.Config{Store: st, Bus: e.bus, Sink: runner.TrackingSink{Svc: e.tracking},
		DataDir: dataDir, JobsDir: jobsDir, AppVersion: version, Docker: e.docker,
		// Jobs that log with the MLflow client reach it on their own network, token-only.
		TrackingAPI: mlflow.Handler(),
		RemoteDocker: func(name string) (runner.DockerAPI, error) {
			c, err := e.engines.Client(name)
			if err != nil {
				return nil, err // not a nil *docker.Client inside the interface
			}
			return c, nil
		}}); err != nil {
		return nil, err
	}
	startCtx, cancelStart := context.WithTimeout(e.ctx, 10*time.Second)
	if err := e.runner.Start(startCtx); err != nil { // reattach to jobs left running, reap orphans
		log.Warn("reattaching training jobs", "err", core.ErrorMessage(err))
	}
	cancelStart()
	if e.registry, err = registry.NewService(st, e.bus, dataDir, e.tracking); err != nil {
		return nil, err
	}
	e.registry.Sealing = sealing
	e.registry.Profile = func(v string) (any, error) { return e.datasets.Profile(v) }
	mlflow.Registry = e.registry // the MLflow Model Registry endpoints
	launcher, packager := deployment.DefaultLaunchers(e.docker, e.runner.Instance(), e.runner.RuntimeBinary)
	explanations := explanation.NewService(st, blobs, e.registry, e.datasets, e.bus)
	e.monitoring = monitor.NewService(monitor.Config{Store: st, Bus: e.bus, DataDir: dataDir, Sealing: sealing,
		Tables: monitor.DatasetTables{Datasets: e.datasets}, Datasets: e.datasets, Logs: monitor.ServingLog{Store: st},
		Importances: explanations}) // drift weighted by the deployed version's explanation
	// A ramp's watch also compares realised accuracy once labels arrive.
	e.deployments = deployment.NewService(deployment.Config{Store: st, Registry: e.registry, Launcher: launcher, Bus: e.bus, Log: log,
		Realised: e.monitoring.RealisedByBackend})
	explanations.Deployments = e.deployments                                 // a logged prediction is explained by the version that answered it
	e.registry.DeploymentsOf = e.deployments.DeploymentsOf                   // what is served is not deleted or renamed
	e.registry.FollowersOf = e.deployments.FollowersOf                       // nor what a followed alias names
	e.background(func(ctx context.Context) { _ = e.deployments.Start(ctx) }) // deployments running at the last exit come back
	e.background(func(ctx context.Context) { e.monitoring.Start(ctx, 0) })   // monitors with an interval run on their own
	e.retention = predlog.NewRetention(st)
	e.retention.Needs = e.monitoring.RetentionNeeds                                       // monitor windows and labelled requests are kept
	e.background(func(ctx context.Context) { e.retention.Schedule(ctx, 10*time.Minute) }) // prediction-log retention on its schedule
	if e.sweeps, err = sweep.New(sweep.Config{Store: st, Bus: e.bus, Runs: e.tracking, Models: e.registry,
		Runner: sweep.Jobs{Runner: e.runner, Data: runner.VersionData(e.datasets)}}); err != nil {
		return nil, err
	}
	if err := e.sweeps.Start(e.ctx); err != nil { // sweeps running at the last exit resume (after the runner reattached their trials)
		log.Warn("resuming sweeps", "err", core.ErrorMessage(err))
	}
	// Only the step types whose service exists are offered.
	fair := fairness.NewService(e.registry, e.datasets, e.bus) // the Fairness area and the gate's fairness rule
	steps := pipeline.NewTypes()
	pipeline.RegisterSteps(steps, pipeline.Services{Datasets: e.datasets, Trainer: e.runner, ImageIdentity: e.runner.ImageIdentity,
		Registry: e.registry, Bus: e.bus, Evaluator: &evaluate.Service{Versions: e.registry, Datasets: e.datasets}, Ramper: e.deployments,
		Fairness: fair})
	e.pipelines = pipeline.New(pipeline.Config{Store: st, Bus: e.bus, Types: steps, Log: log, Datasets: e.datasets})
	e.background(e.pipelines.Run) // runs left in flight resume; queued ones start
	e.encryption = atrest.NewService(dataDir, st, e.bus)
	e.bindings = app.Bindings(app.Services{
		Context:      e.ctx, // bound calls end when the app closes
		Shell:        e.shell,
		System:       e.system,
		Bus:          e.bus,
		Datasets:     e.datasets,
		Tracking:     e.tracking,
		Runner:       e.runner,
		RunArchives:  &runarchive.Service{Runner: e.runner, Tracking: e.tracking, Datasets: e.datasets, TernVersion: version},
		ArchiveDir:   filepath.Join(dataDir, "imports"),
		Registry:     e.registry,
		Deployments:  e.deployments,
		Packager:     packager,
		Monitoring:   e.monitoring,
		Sweeps:       e.sweeps,
		Fairness:     fair,
		Pipelines:    e.pipelines,
		Backups:      e.backups,
		Explanations: explanations,
		Audit:        e.audit,
		Encryption:   e.encryption,
		Retention:    e.retention,
		Engines:      e.engines,
	})
	ok = true
	return e, nil
}

// close stops background work, then each service in the reverse order of
// building, then the store; services that were never built are skipped.
func (e *environment) close() {
	e.cancel()
	e.loops.Wait()
	if e.sweeps != nil {
		e.sweeps.Close() // sweeps stay running in the store; the next start resumes them
	}
	if e.backups != nil {
		e.backups.Close() // a running backup or restore is cancelled, leaving no file
	}
	if e.encryption != nil {
		e.encryption.Close() // an encryption under way stops; its copy is removed
	}
	if e.deployments != nil {
		e.deployments.Close() // routers stop; serving containers keep running for the next start
	}
	if e.runner != nil {
		e.runner.Close() // containers keep running; the next start reattaches
	}
	if e.tracking != nil {
		e.tracking.Stop()
	}
	if e.registry != nil {
		_ = e.registry.Close() // plaintext copies of models go
	}
	if e.blobs != nil {
		_ = e.blobs.Close() // plaintext copies of datasets go
	}
	if e.engines != nil {
		e.engines.Close()
	}
	_ = e.docker.Close()
	if e.audit != nil {
		_ = e.audit.Close() // seals what is pending before the store closes
	}
	if err := e.store.Close(); err != nil {
		e.log.Error("closing the store", "err", err)
	}
}

func (e *environment) httpServer(addr string) (*httpapi.Server, error) {
	ui, err := fs.Sub(assets, "frontend/dist")
	if err != nil {
		return nil, err
	}
	// A person who binds a non-loopback address on purpose reaches Tern by
	// that address, so it joins the accepted Host names.
	var extra []string
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			extra = append(extra, host)
			e.log.Warn("the HTTP face listens beyond this machine; anyone who can reach it still needs the token", "addr", addr)
		}
	}
	return httpapi.New(httpapi.Config{
		Token: e.token, Bindings: e.bindings, Bus: e.bus, UI: ui, Logger: e.log, ExtraHosts: extra,
		Datasets: e.datasets, Monitor: e.monitoring, Pipelines: e.pipelines, Routes: e.routes,
	})
}

func (e *environment) serve(ctx context.Context, addr string) int {
	srv, err := e.httpServer(addr)
	if err != nil {
		e.log.Error("building the HTTP face", "err", err)
		return 1
	}
	ln, err := listen(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tern:", core.ErrorMessage(err))
		return 1
	}
	url := "http://" + ln.Addr().String()
	e.system.SetAPIURL(url)
	fmt.Printf("Tern is serving on %s\nOpen %s/#token=%s\nData: %s\n", url, url, e.token, e.dataDir)
	if err := srv.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		e.log.Error("serving", "err", err)
		return 1
	}
	return 0
}

// desktop opens the window and, beside it, the HTTP face on loopback so
// MLflow clients and scripts can reach Tern while the window is open.
func (e *environment) desktop(ctx context.Context, addr string) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if srv, err := e.httpServer(addr); err == nil {
		if ln, err := listen(addr); err == nil {
			e.system.SetAPIURL("http://" + ln.Addr().String())
			go srv.Serve(ctx, ln)
		} else {
			e.log.Warn("the HTTP face is off", "err", core.ErrorMessage(err))
		}
	}
	err := e.shell.Run(app.WindowConfig{Title: "Tern", Assets: assets, Bindings: e.bindings, OnQuit: cancel})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tern:", err)
		return 1
	}
	return 0
}

// listen binds addr, refusing anything but loopback unless the person
// asked for another address explicitly.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Tern cannot listen on %s (%v). Is another program using that port? Choose another with --addr.", addr, err)
	}
	return ln, nil
}
