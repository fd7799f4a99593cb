package http

import (
	"encoding/json"
	"mime"
	"net/http"

	"github.com/workflow-runtime/workflow-runtime/pkg/logging"
)

// logLevelPath is the admin route that reads and changes the log level.
const logLevelPath = "/admin/log-level"

// maxLogLevelBody bounds a PUT's body, which holds one short word.
const maxLogLevelBody = 1 << 10

// logLevel is the body of the route's answers.
type logLevel struct {
	Level      string `json:"level"`
	Configured string `json:"configured"`
}

// logLevelHandler serves logLevelPath: GET answers the current and the
// configured level; PUT sets the level from the parameter level, given in
// the query, as a form or as a JSON body {"level": "debug"}, and answers as
// GET does. The level logs each change with the caller's address.
func logLevelHandler(lvl *logging.Level) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodPut:
			name, err := requestedLevel(w, r)
			if err == nil {
				err = lvl.Set(name, "PUT "+logLevelPath+" from "+r.RemoteAddr)
			}
			if err != nil {
				http.Error(w, "level must be one of debug, info, warn, error", http.StatusBadRequest)
				return
			}
		default:
			w.Header().Set("Allow", "GET, HEAD, PUT")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(logLevel{Level: lvl.String(), Configured: lvl.Configured()})
	})
}

func requestedLevel(w http.ResponseWriter, r *http.Request) (string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLogLevelBody)
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" {
		var body struct {
			Level string `json:"level"`
		}
		err := json.NewDecoder(r.Body).Decode(&body)
		return body.Level, err
	}
	if err := r.ParseForm(); err != nil {
		return "", err
	}
	return r.Form.Get("level"), nil
}
