// Package delta is a pure-Go Delta Lake (PROTOCOL.md, reader 1 / writer 2)
// log, snapshot, writer and reader over an objstore.Store. It does not import
// Benthos.
package delta

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
)

// Protocol is the protocol action.
type Protocol struct {
	MinReaderVersion int      `json:"minReaderVersion"`
	MinWriterVersion int      `json:"minWriterVersion"`
	ReaderFeatures   []string `json:"readerFeatures,omitempty"`
	WriterFeatures   []string `json:"writerFeatures,omitempty"`
}

// Format is metaData.format.
type Format struct {
	Provider string            `json:"provider"`
	Options  map[string]string `json:"options"`
}

// Metadata is the metaData action.
type Metadata struct {
	ID               string            `json:"id"`
	Name             string            `json:"name,omitempty"`
	Description      string            `json:"description,omitempty"`
	Format           Format            `json:"format"`
	SchemaString     string            `json:"schemaString"`
	PartitionColumns []string          `json:"partitionColumns"`
	Configuration    map[string]string `json:"configuration"`
	CreatedTime      *int64            `json:"createdTime,omitempty"`
}

// Add is the add action. Path is URI-encoded, relative to the table root.
type Add struct {
	Path             string            `json:"path"`
	PartitionValues  PartitionValues   `json:"partitionValues"`
	Size             int64             `json:"size"`
	ModificationTime int64             `json:"modificationTime"` // ms
	DataChange       bool              `json:"dataChange"`
	Stats            string            `json:"stats,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
}

// Remove is the remove action.
type Remove struct {
	Path                 string          `json:"path"`
	DeletionTimestamp    *int64          `json:"deletionTimestamp,omitempty"` // ms
	DataChange           bool            `json:"dataChange"`
	ExtendedFileMetadata bool            `json:"extendedFileMetadata,omitempty"`
	PartitionValues      PartitionValues `json:"partitionValues,omitempty"`
	Size                 *int64          `json:"size,omitempty"`
}

// Txn is the txn (SetTransaction) action used for idempotent writes.
type Txn struct {
	AppID       string `json:"appId"`
	Version     int64  `json:"version"`
	LastUpdated *int64 `json:"lastUpdated,omitempty"`
}

// CommitInfo is free-form; we write these fields and keep unknown ones.
type CommitInfo map[string]any

// Action is one line of a commit file; exactly one field is set. Unknown
// action kinds (cdc, domainMetadata, ...) are kept raw so a table using them
// can be detected and refused.
type Action struct {
	CommitInfo CommitInfo                 `json:"commitInfo,omitempty"`
	Protocol   *Protocol                  `json:"protocol,omitempty"`
	MetaData   *Metadata                  `json:"metaData,omitempty"`
	Add        *Add                       `json:"add,omitempty"`
	Remove     *Remove                    `json:"remove,omitempty"`
	Txn        *Txn                       `json:"txn,omitempty"`
	Other      map[string]json.RawMessage `json:"-"`
}

var knownActions = map[string]bool{"commitInfo": true, "protocol": true, "metaData": true, "add": true, "remove": true, "txn": true}

// EncodeCommit renders actions as newline-delimited JSON, one per line.
func EncodeCommit(actions []Action) ([]byte, error) {
	var buf bytes.Buffer
	for i, a := range actions {
		b, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("delta: encode action %d: %w", i, err)
		}
		if string(b) == "{}" {
			return nil, fmt.Errorf("delta: encode action %d: empty action", i)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// DecodeCommit parses a commit file.
func DecodeCommit(data []byte) ([]Action, error) {
	var out []Action
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 256*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var a Action
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("delta: commit line %d: %w", line, err)
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(b, &keys); err != nil {
			return nil, fmt.Errorf("delta: commit line %d: %w", line, err)
		}
		for k, v := range keys {
			if !knownActions[k] {
				if a.Other == nil {
					a.Other = map[string]json.RawMessage{}
				}
				a.Other[k] = v
			}
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("delta: read commit: %w", err)
	}
	return out, nil
}

// PartitionValues maps partition column to its serialised value; "" is
// null (Spark stores empty strings as null) and is written as JSON null,
// since every partition column must have an entry in every add.
type PartitionValues map[string]string

func (p PartitionValues) MarshalJSON() ([]byte, error) {
	m := make(map[string]*string, len(p))
	for k, v := range p {
		if v == "" {
			m[k] = nil
		} else {
			m[k] = &v
		}
	}
	return json.Marshal(m)
}

func (p *PartitionValues) UnmarshalJSON(b []byte) error {
	var m map[string]*string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*p = make(PartitionValues, len(m))
	for k, v := range m {
		if v != nil {
			(*p)[k] = *v
		} else {
			(*p)[k] = ""
		}
	}
	return nil
}
