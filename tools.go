//go:build tools

// Package tools pins the project's direct dependencies while the packages that
// use them are being written; go mod tidy keeps them because of this file.
package tools

import (
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/google/uuid"
	_ "github.com/johannesboyne/gofakes3"
	_ "github.com/johannesboyne/gofakes3/backend/s3mem"
	_ "github.com/parquet-go/parquet-go"
	_ "github.com/pavlo-v-chernykh/keystore-go/v4"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/twmb/franz-go/pkg/kadm"
	_ "github.com/twmb/franz-go/pkg/kfake"
	_ "github.com/twmb/franz-go/pkg/kgo"
	_ "github.com/twmb/franz-go/pkg/sasl/scram"
	_ "golang.org/x/text/cases"
	_ "software.sslmate.com/src/go-pkcs12"
)
