package kafkafranz

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/miaradia/rides-connect/internal/clicmd"
	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

func init() {
	clicmd.Register(kafkaCommand())
}

// connectionFlags mirror the kafka_franz tls/sasl fields; secrets come from
// the environment so they stay out of shell history and `ps`.
func connectionFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "brokers", Usage: "seed brokers, comma-separated", EnvVars: []string{"KAFKA_BOOTSTRAP"}, Value: cli.NewStringSlice("localhost:9092")},
		&cli.BoolFlag{Name: "tls", Usage: "connect over TLS (implied by --truststore or --ca-file)"},
		&cli.StringFlag{Name: "truststore", Usage: "truststore file: JKS, PKCS#12 or PEM (e.g. /opt/certs/truststore.jks)", EnvVars: []string{"KAFKA_TRUSTSTORE"}},
		&cli.StringFlag{Name: "truststore-type", Usage: "jks, pkcs12 or pem; default from the file extension"},
		&cli.StringFlag{Name: "truststore-password", Usage: "truststore password (prefer the env var)", EnvVars: []string{"TRUSTSTORE_PASSWORD"}},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM file of trusted CAs"},
		&cli.BoolFlag{Name: "skip-cert-verify", Usage: "do not verify broker certificates (tests only)"},
		&cli.StringFlag{Name: "sasl-mechanism", Usage: "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (set when --sasl-user or KAFKA_USER is set; default SCRAM-SHA-512)", EnvVars: []string{"KAFKA_SASL_MECHANISM"}},
		&cli.StringFlag{Name: "sasl-user", Usage: "SASL user", EnvVars: []string{"KAFKA_USER"}},
		&cli.StringFlag{Name: "sasl-password", Usage: "SASL password (prefer the env var)", EnvVars: []string{"KAFKA_PASS"}},
		&cli.DurationFlag{Name: "timeout", Usage: "overall timeout", Value: 30 * time.Second},
	}
}

func clientConfigFromFlags(c *cli.Context) franz.ClientConfig {
	conf := franz.ClientConfig{
		SeedBrokers: franz.ExpandList(c.StringSlice("brokers")),
		ClientID:    "rides-connect-admin",
		TLS: franz.TLSConfig{
			Enabled:            c.Bool("tls") || c.String("truststore") != "" || c.String("ca-file") != "",
			SkipCertVerify:     c.Bool("skip-cert-verify"),
			RootCAsFile:        c.String("ca-file"),
			TruststoreFile:     c.String("truststore"),
			TruststoreType:     c.String("truststore-type"),
			TruststorePassword: c.String("truststore-password"),
		},
	}
	if user := c.String("sasl-user"); user != "" {
		mech := c.String("sasl-mechanism")
		if mech == "" {
			mech = "SCRAM-SHA-512"
		}
		conf.SASL = []franz.SASLConfig{{Mechanism: mech, Username: user, Password: c.String("sasl-password")}}
	}
	return conf
}

func withAdmin(c *cli.Context, fn func(context.Context, *franz.Admin) error) error {
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	adm, err := franz.NewAdmin(ctx, clientConfigFromFlags(c))
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	defer adm.Close()
	if err := fn(ctx, adm); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	return nil
}

func kafkaCommand() *cli.Command {
	create := &cli.Command{
		Name:  "create",
		Usage: "Create a topic (seed §2.1: rides, 6 partitions)",
		Flags: append(connectionFlags(),
			&cli.StringFlag{Name: "topic", Usage: "topic name", Required: true},
			&cli.IntFlag{Name: "partitions", Usage: "number of partitions", Value: 6},
			&cli.IntFlag{Name: "replication-factor", Usage: "replicas per partition; -1 = broker default", Value: -1},
			&cli.StringSliceFlag{Name: "config", Usage: "topic config key=value (repeatable), e.g. retention.ms=604800000"},
			&cli.BoolFlag{Name: "if-not-exists", Usage: "succeed when the topic already exists"},
		),
		Action: func(c *cli.Context) error {
			configs := map[string]*string{}
			for _, kv := range c.StringSlice("config") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return cli.Exit(fmt.Sprintf("--config %q: want key=value", kv), 2)
				}
				configs[k] = &v
			}
			if p := c.Int("partitions"); p < 1 {
				return cli.Exit(fmt.Sprintf("--partitions %d: must be at least 1", p), 2)
			}
			return withAdmin(c, func(ctx context.Context, adm *franz.Admin) error {
				topic := c.String("topic")
				err := adm.CreateTopic(ctx, topic, int32(c.Int("partitions")), int16(c.Int("replication-factor")), configs)
				if errors.Is(err, franz.ErrTopicExists) && c.Bool("if-not-exists") {
					fmt.Fprintf(c.App.Writer, "topic %s already exists\n", topic)
					return nil
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "created topic %s with %d partitions\n", topic, c.Int("partitions"))
				return nil
			})
		},
	}
	list := &cli.Command{
		Name:  "list",
		Usage: "List topics with their partition count and replication factor",
		Flags: connectionFlags(),
		Action: func(c *cli.Context) error {
			return withAdmin(c, func(ctx context.Context, adm *franz.Admin) error {
				topics, err := adm.ListTopics(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "TOPIC\tPARTITIONS\tREPLICATION")
				for _, t := range topics {
					fmt.Fprintf(w, "%s\t%d\t%d\n", t.Name, t.Partitions, t.ReplicationFactor)
				}
				return w.Flush()
			})
		},
	}
	return &cli.Command{
		Name:  "kafka",
		Usage: "Kafka administration (topics) with the kafka_franz connection settings",
		Subcommands: []*cli.Command{{
			Name:        "topic",
			Usage:       "Create or list topics",
			Subcommands: []*cli.Command{create, list},
		}},
	}
}
