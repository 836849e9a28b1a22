package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/miaradia/rides-connect/internal/clicmd"
)

// exitCodeHTTP is the status of a run whose HTTP server could not start.
const exitCodeHTTP = 1

// httpFailureHandler watches the run's log for Benthos' "HTTP Server error"
// (its HTTP server failed to listen, e.g. http.address in use by another
// process) and stops the run: Benthos itself logs it and runs on without
// /metrics, /ready and /ping, so a job would process and commit unseen, and a
// pod would never turn ready without saying why at start. It is the tee
// logger of the CLI, so it sees every record and prints nothing itself.
type httpFailureHandler struct{}

func (httpFailureHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (httpFailureHandler) Handle(_ context.Context, r slog.Record) error {
	if msg, ok := strings.CutPrefix(r.Message, "HTTP Server error: "); ok {
		err := errors.New("http.address: the HTTP server (metrics, /ready, /ping) could not start: " +
			strings.TrimSpace(msg) + "; set HTTP_ADDRESS (http.address) to a free host:port")
		// In the log's logfmt, on stderr: the run's logger is being torn down.
		fmt.Fprintf(os.Stderr, "time=%q level=error msg=%q @service=rides-connect\n", time.Now().UTC().Format(time.RFC3339), err.Error())
		clicmd.Abort(exitCodeHTTP, err)
	}
	return nil
}

func (h httpFailureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h httpFailureHandler) WithGroup(string) slog.Handler      { return h }
