package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/credflow/credflow/internal/config"
	"github.com/credflow/credflow/internal/gateway"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/internal/vault"
	"github.com/spf13/cobra"
)

type serveOptions struct {
	Listen      string
	AllowRemote bool
	LogFormat   string
	LogLevel    string
}

func newServeCmd(f *Factory) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the local OpenAI- and Anthropic-compatible gateway in the foreground",
		Long: `Run the gateway. Clients use credflow virtual keys ('credflow keys create');
the gateway injects the real provider keys from the vault, routes each model
to a provider, translates between the OpenAI and Anthropic formats when the
client and the provider differ, and streams.

  OpenAI SDKs:     base URL http://127.0.0.1:6767/v1
  Anthropic SDKs:  base URL http://127.0.0.1:6767

With no config file it runs on built-in defaults with the mock provider.
SIGHUP (or 'credflow secrets rotate', or the admin API) reloads the config
and the provider keys; SIGINT/SIGTERM drain in-flight requests, then stop.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error { return runServe(cmd, f, o) },
	}
	cmd.Flags().StringVar(&o.Listen, "listen", "", "client API address (default server.listen, 127.0.0.1:6767)")
	cmd.Flags().BoolVar(&o.AllowRemote, "allow-remote", false, "allow a non-loopback --listen address")
	cmd.Flags().StringVar(&o.LogFormat, "log-format", "", "log format: text or json (default server.log_format)")
	cmd.Flags().StringVar(&o.LogLevel, "log-level", "", "log level: debug, info, warn, error (default server.log_level)")
	return cmd
}

func newLogger(w *os.File, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErrorf("log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, usageErrorf("log format %q: use text or json", format)
}

func runServe(cmd *cobra.Command, f *Factory, o serveOptions) error {
	cfg, err := f.Config()
	if err != nil {
		return err
	}
	p, err := f.Paths()
	if err != nil {
		return err
	}
	format, level := cfg.Server.LogFormat, cfg.Server.LogLevel
	if o.LogFormat != "" {
		format = o.LogFormat
	}
	if o.LogLevel != "" {
		level = o.LogLevel
	}
	errOut, ok := f.IO.ErrOut.(*os.File)
	if !ok {
		errOut = os.Stderr
	}
	log, err := newLogger(errOut, format, level)
	if err != nil {
		return err
	}
	if err := config.EnsureDataDir(p.DataDir); err != nil {
		return err
	}
	first := true
	srv, err := gateway.New(cmd.Context(), gateway.Options{
		LoadConfig: func() (*config.Config, error) {
			if first {
				first = false
				return cfg, nil
			}
			f.cfg = nil
			return f.Config()
		},
		OpenVault: func(ctx context.Context) (*vault.Vault, func(), error) { return f.OpenVault() },
		OpenStore: func() (*store.DB, error) { return f.OpenStore() },
		DataDir:   p.DataDir, Listen: o.Listen, AllowRemote: o.AllowRemote,
		Logger: log, Now: f.Now,
	})
	if err != nil {
		return err
	}
	addr := srv.Addr()
	source := "built-in defaults (no config file)"
	if cfg.Path != "" {
		source = cfg.Path
	}
	log.Info("credflow gateway listening",
		"openai_base_url", "http://"+addr+"/v1", "anthropic_base_url", "http://"+addr,
		"admin_socket", srv.AdminSocket(), "config", source)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading configuration and secrets")
				srv.Reload(ctx)
			}
		}
	}()
	// CREDFLOW_CPUPROFILE=FILE writes a CPU profile of the whole run, for
	// performance work (see scripts/bench.sh).
	if path := f.Getenv("CREDFLOW_CPUPROFILE"); path != "" {
		pf, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	if err := srv.Run(ctx); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}
