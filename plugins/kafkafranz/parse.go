package kafkafranz

import (
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// fields reads a parsed config and keeps the first error, so the
// …FromParsed functions read as a plain list of fields.
type fields struct {
	conf *service.ParsedConfig
	err  error
}

func (f *fields) str(path ...string) string {
	if f.err != nil || !f.conf.Contains(path...) {
		return ""
	}
	v, err := f.conf.FieldString(path...)
	f.err = err
	return v
}

func (f *fields) strs(path ...string) []string {
	if f.err != nil || !f.conf.Contains(path...) {
		return nil
	}
	v, err := f.conf.FieldStringList(path...)
	f.err = err
	return v
}

func (f *fields) strMap(path ...string) map[string]string {
	if f.err != nil || !f.conf.Contains(path...) {
		return nil
	}
	v, err := f.conf.FieldStringMap(path...)
	f.err = err
	return v
}

func (f *fields) integer(path ...string) int {
	if f.err != nil || !f.conf.Contains(path...) {
		return 0
	}
	v, err := f.conf.FieldInt(path...)
	f.err = err
	return v
}

func (f *fields) boolean(path ...string) bool {
	if f.err != nil || !f.conf.Contains(path...) {
		return false
	}
	v, err := f.conf.FieldBool(path...)
	f.err = err
	return v
}

func (f *fields) duration(path ...string) time.Duration {
	if f.err != nil || !f.conf.Contains(path...) {
		return 0
	}
	v, err := f.conf.FieldDuration(path...)
	f.err = err
	return v
}

func (f *fields) objects(path ...string) []*service.ParsedConfig {
	if f.err != nil || !f.conf.Contains(path...) {
		return nil
	}
	v, err := f.conf.FieldObjectList(path...)
	f.err = err
	return v
}
