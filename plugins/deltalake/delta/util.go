package delta

import "encoding/json"

// jsonString renders v as JSON text (Spark stores operationParameters values
// as JSON strings).
func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
