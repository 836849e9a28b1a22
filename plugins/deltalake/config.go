package deltalake

import (
	"fmt"
	"strconv"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/enumfield"
	"github.com/miaradia/rides-connect/internal/health/healthsvc"
	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/internal/s3conf"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

// outputConfig is the parsed delta_lake config handed to the core.
type outputConfig struct {
	Path          string
	Table         delta.TableConfig
	IgnoreUnknown bool
	Mode          string // none | sequence | kafka
	AppID         string // static app_id, or the raw text of an interpolated one
	// AppIDPerMessage is app_id when it interpolates (e.g.
	// `rides_agg-${! @window_state_partition.not_null() }`): each message
	// names its own txn appId, with its own sequence. nil when static.
	AppIDPerMessage *service.InterpolatedString
	GapTimeout      time.Duration
	// FenceToken is idempotency.fence_token, nil when unset (no token).
	FenceToken     *service.InterpolatedString
	WriterID       string // commit_info.writer_id
	Compression    string
	TargetFileSize int64
	OnInvalidRow   string // drop | fail
	CommitAttempts int
	AutoCompact    int // OPTIMIZE after every N commits (0 = off)
	NotReadyAfter  time.Duration
	Store          objstore.Options
}

func schemaFromParsed(conf *service.ParsedConfig) (delta.Schema, error) {
	cols, err := conf.FieldObjectList(fieldSchema)
	if err != nil {
		return delta.Schema{}, err
	}
	var s delta.Schema
	for i, c := range cols {
		name, err := c.FieldString(fieldColName)
		if err != nil {
			return delta.Schema{}, fmt.Errorf("schema[%d]: %w", i, err)
		}
		ts, err := c.FieldString(fieldColType)
		if err != nil {
			return delta.Schema{}, fmt.Errorf("schema[%d]: %w", i, err)
		}
		t, err := delta.ParseType(ts)
		if err != nil {
			return delta.Schema{}, fmt.Errorf("schema[%d] (%s): %w", i, name, err)
		}
		nullable, err := c.FieldBool(fieldColNullable)
		if err != nil {
			return delta.Schema{}, err
		}
		s.Fields = append(s.Fields, delta.Field{Name: name, Type: t, Nullable: nullable})
	}
	if err := s.Validate(); err != nil {
		return delta.Schema{}, fmt.Errorf("schema: %w", err)
	}
	return s, nil
}

func outputConfigFromParsed(conf *service.ParsedConfig) (outputConfig, error) {
	var c outputConfig
	var err error
	if c.Path, err = conf.FieldString(fieldPath); err != nil {
		return c, err
	}
	if _, err := objstore.ParseURL(c.Path); err != nil {
		return c, fmt.Errorf("path: %w", err)
	}
	if c.Table.Schema, err = schemaFromParsed(conf); err != nil {
		return c, err
	}
	if c.Table.PartitionColumns, err = conf.FieldStringList(fieldPartitionColumns); err != nil {
		return c, err
	}
	if c.Table.Properties, err = conf.FieldStringMap(fieldTableProperties); err != nil {
		return c, err
	}
	if err := delta.ValidateProperties(c.Table.Properties); err != nil {
		return c, fmt.Errorf("%s: %w", fieldTableProperties, err)
	}
	if c.Table.SchemaEvolution, err = conf.FieldBool(fieldSchemaEvolution); err != nil {
		return c, err
	}
	if err := c.Table.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", fieldPartitionColumns, err)
	}
	if c.IgnoreUnknown, err = conf.FieldBool(fieldIgnoreUnknown); err != nil {
		return c, err
	}
	if c.Mode, err = enumfield.Read(conf, enumfield.Keys(idemModes), fieldIdempotency, fieldIdemMode); err != nil {
		return c, err
	}
	appID, err := conf.FieldInterpolatedString(fieldIdempotency, fieldIdemAppID)
	if err != nil {
		return c, err
	}
	if static, ok := appID.Static(); ok {
		c.AppID = static
	} else {
		c.AppID, _ = conf.FieldString(fieldIdempotency, fieldIdemAppID)
		c.AppIDPerMessage = appID
	}
	if c.Mode != "none" && c.AppID == "" {
		return c, fmt.Errorf("idempotency.app_id is required when idempotency.mode is %s", c.Mode)
	}
	if c.GapTimeout, err = conf.FieldDuration(fieldIdempotency, fieldIdemGapTimeout); err != nil {
		return c, err
	}
	if c.GapTimeout < 0 {
		return c, fmt.Errorf("idempotency.sequence_gap_timeout: %v must not be negative", c.GapTimeout)
	}
	fence, err := conf.FieldInterpolatedString(fieldIdempotency, fieldIdemFenceToken)
	if err != nil {
		return c, err
	}
	if static, ok := fence.Static(); !ok || static != "" {
		if c.Mode != "sequence" {
			return c, fmt.Errorf("idempotency.fence_token needs idempotency.mode: sequence (got %s)", c.Mode)
		}
		// A static token that is no such integer would make every row
		// invalid (bad_fence_token), dropped by on_invalid_row: drop.
		if n, err := strconv.ParseInt(static, 10, 64); ok && (err != nil || n < 0 || n > delta.MaxFenceToken) {
			return c, fmt.Errorf("idempotency.fence_token: %q is not an integer 0..%d (or an interpolation giving one)", static, int64(delta.MaxFenceToken))
		}
		c.FenceToken = fence
	}
	if c.WriterID, err = conf.FieldString(fieldCommitInfo, fieldWriterID); err != nil {
		return c, err
	}
	if c.Compression, err = enumfield.Read(conf, compressions, fieldCompression); err != nil {
		return c, err
	}
	size, err := conf.FieldString(fieldTargetFileSize)
	if err != nil {
		return c, err
	}
	n, err := humanize.ParseBytes(size)
	if err != nil || n == 0 {
		return c, fmt.Errorf("target_file_size %q: want a size such as 128MiB", size)
	}
	if n > 5<<30 {
		// Files are single PUTs built in memory; S3 caps a PUT at 5 GiB.
		return c, fmt.Errorf("target_file_size %q: at most 5GiB (one S3 PUT, built in memory)", size)
	}
	c.TargetFileSize = int64(n)
	if c.OnInvalidRow, err = enumfield.Read(conf, enumfield.Keys(onInvalidRows), fieldOnInvalidRow); err != nil {
		return c, err
	}
	if c.CommitAttempts, err = conf.FieldInt(fieldCommitAttempts); err != nil {
		return c, err
	}
	if c.AutoCompact, err = conf.FieldInt(fieldAutoCompact); err != nil {
		return c, err
	}
	if c.AutoCompact < 0 {
		return c, fmt.Errorf("auto_compact_every must be 0 (off) or positive, got %d", c.AutoCompact)
	}
	if c.CommitAttempts < 1 {
		return c, fmt.Errorf("commit_max_attempts must be at least 1, got %d", c.CommitAttempts)
	}
	if c.NotReadyAfter, err = healthsvc.NotReadyAfter(conf); err != nil {
		return c, err
	}
	if c.Store.S3, err = s3conf.FromParsed(conf); err != nil {
		return c, err
	}
	return c, nil
}
