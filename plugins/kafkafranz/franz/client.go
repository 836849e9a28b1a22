package franz

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Logger is the logging the core needs; *service.Logger satisfies it.
type Logger interface {
	Debugf(format string, args ...any)
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
	Errorf(format string, args ...any)
}

// ClientConfig holds what input and output share: brokers and security.
type ClientConfig struct {
	SeedBrokers    []string
	ClientID       string
	TLS            TLSConfig
	SASL           []SASLConfig
	MetadataMaxAge time.Duration
	// RequestTimeoutOverhead is added to the deadline of every request
	// (request.timeout.ms, plus the request's own timeout field if any).
	RequestTimeoutOverhead time.Duration
	// ConnIdleTimeout closes connections idle for about this long.
	ConnIdleTimeout time.Duration
}

// Options returns the franz-go options for the connection part.
func (c ClientConfig) Options(log Logger) ([]kgo.Opt, error) {
	if len(c.SeedBrokers) == 0 {
		return nil, errors.New("seed_brokers: at least one broker is required")
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.SeedBrokers...)}
	if c.ClientID != "" {
		opts = append(opts, kgo.ClientID(c.ClientID))
	}
	if c.MetadataMaxAge > 0 {
		opts = append(opts, kgo.MetadataMaxAge(c.MetadataMaxAge))
	}
	// franz-go's own limits, checked here so the error names our field.
	for _, d := range []struct {
		field string
		v     time.Duration
		opt   func(time.Duration) kgo.Opt
	}{
		{"request_timeout_overhead", c.RequestTimeoutOverhead, kgo.RequestTimeoutOverhead},
		{"conn_idle_timeout", c.ConnIdleTimeout, kgo.ConnIdleTimeout},
	} {
		if d.v == 0 {
			continue // franz-go's default
		}
		if d.v < 100*time.Millisecond || d.v > 15*time.Minute {
			return nil, fmt.Errorf("%s: %v is outside the allowed 100ms to 15m", d.field, d.v)
		}
		opts = append(opts, d.opt(d.v))
	}
	tlsConf, err := c.TLS.Build()
	if err != nil {
		return nil, err
	}
	if tlsConf != nil {
		opts = append(opts, kgo.DialTLSConfig(tlsConf))
	}
	mechs, err := BuildSASL(c.SASL)
	if err != nil {
		return nil, err
	}
	if len(mechs) > 0 {
		opts = append(opts, kgo.SASL(mechs...))
	}
	if log != nil {
		opts = append(opts, kgo.WithLogger(kgoLogger{log}))
	}
	return opts, nil
}

// redact removes any configured secret that a lower layer might echo.
func redact(msg string, confs []SASLConfig) string {
	for _, s := range confs {
		for _, secret := range []string{s.Password, s.Token} {
			if len(secret) >= 3 {
				msg = strings.ReplaceAll(msg, secret, "[redacted]")
			}
		}
	}
	return msg
}

// Ping checks that a broker answers (and accepts our credentials).
func Ping(ctx context.Context, cl *kgo.Client, conf ClientConfig) error {
	if err := cl.Ping(ctx); err != nil {
		return conf.ConnectError(err)
	}
	return nil
}

// kgoLogger forwards franz-go's warnings and errors; its info/debug chatter
// stays out of the pipeline log.
type kgoLogger struct{ l Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var b strings.Builder
	b.WriteString(msg)
	for i := 0; i+1 < len(keyvals); i += 2 {
		fmt.Fprintf(&b, " %v=%v", keyvals[i], keyvals[i+1])
	}
	switch level {
	case kgo.LogLevelError:
		k.l.Errorf("kafka: %s", b.String())
	case kgo.LogLevelWarn:
		k.l.Warnf("kafka: %s", b.String())
	default:
		k.l.Debugf("kafka: %s", b.String())
	}
}
