package app

import (
	"context"
	"embed"
	"log/slog"
	"sync"

	"github.com/wailsapp/wails/v2"
	"github.com/wailsapp/wails/v2/pkg/options"
	"github.com/wailsapp/wails/v2/pkg/options/assetserver"
	"github.com/wailsapp/wails/v2/pkg/options/linux"
	"github.com/wailsapp/wails/v2/pkg/runtime"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/pipeline"
)

// TopicFilesDropped carries absolute paths dropped on the window.
const TopicFilesDropped = "files.dropped"

// Shell owns the window's lifecycle and bridges the event bus to it.
type Shell struct {
	bus *core.Bus
	log *slog.Logger

	mu       sync.Mutex
	ctx      context.Context // Wails' context; nil until the window starts
	stopSub  func()
	bridgeWG sync.WaitGroup
}

// NewShell makes a shell publishing to and from bus.
func NewShell(bus *core.Bus, log *slog.Logger) *Shell {
	return &Shell{bus: bus, log: log}
}

// windowContext is the Wails context, or nil in browser mode.
func (s *Shell) windowContext() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctx
}

func (s *Shell) startup(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	ch, stop := s.bus.Subscribe(1024)
	s.stopSub = stop
	s.mu.Unlock()

	s.bridgeWG.Add(1)
	go func() {
		defer s.bridgeWG.Done()
		notify := osNotifier()
		for ev := range ch {
			runtime.EventsEmit(ctx, ev.Topic, ev.Data)
			switch ev.Topic {
			case "monitor.alert":
				notifyAlert(notify, ev.Data)
			case pipeline.TopicNotify:
				notifyPipeline(notify, ev.Data)
			}
		}
	}()
	runtime.OnFileDrop(ctx, func(_, _ int, paths []string) {
		s.bus.Publish(TopicFilesDropped, map[string]any{"paths": paths})
	})
}

func (s *Shell) shutdown(context.Context) {
	s.mu.Lock()
	stop := s.stopSub
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	s.bridgeWG.Wait()
}

// WindowConfig is what the desktop window needs from main.go.
type WindowConfig struct {
	Title    string
	Assets   embed.FS
	Bindings []any
	// OnQuit runs after the window closes, before Run returns.
	OnQuit func()
}

// Run opens the window and blocks until it closes.
func (s *Shell) Run(cfg WindowConfig) error {
	return wails.Run(&options.App{
		Title:     cfg.Title,
		Width:     1280,
		Height:    800,
		MinWidth:  960,
		MinHeight: 600,
		AssetServer: &assetserver.Options{
			Assets: cfg.Assets,
		},
		BackgroundColour: &options.RGBA{R: 22, G: 24, B: 29, A: 255},
		OnStartup:        s.startup,
		OnShutdown: func(ctx context.Context) {
			s.shutdown(ctx)
			if cfg.OnQuit != nil {
				cfg.OnQuit()
			}
		},
		Bind: cfg.Bindings,
		DragAndDrop: &options.DragAndDrop{
			EnableFileDrop:     true,
			DisableWebViewDrop: true,
		},
		ErrorFormatter: func(err error) any {
			return map[string]string{"code": string(core.ErrorCode(err)), "message": core.ErrorMessage(err)}
		},
		Linux: &linux.Options{ProgramName: "tern"},
	})
}
