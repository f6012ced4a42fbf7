package emulator

import (
	"encoding/json"
	"net/http"
)

// adminRoutes serves the emulator's own endpoints under /_emulator/, outside the API's
// namespace and without authentication (the emulator is meant for loopback):
//
//	GET  /_emulator/counters        the Counters as JSON
//	POST /_emulator/counters/reset  zero them
//	GET  /_emulator/faults          the injected faults
//	PUT  /_emulator/faults          replace them (a Faults object)
//	GET  /_emulator/state           every object with its secrets, as the state file holds them
//	GET  /_emulator/healthz         200 when serving
func (e *Emulator) adminRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+AdminPrefix+"counters", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, e.Counters())
	})
	mux.HandleFunc("POST "+AdminPrefix+"counters/reset", func(w http.ResponseWriter, _ *http.Request) {
		e.ResetCounters()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET "+AdminPrefix+"faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, e.CurrentFaults())
	})
	mux.HandleFunc("PUT "+AdminPrefix+"faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		d := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		d.DisallowUnknownFields()
		if err := d.Decode(&f); err != nil {
			writeAPIError(w, badRequest("faults: %v", err))
			return
		}
		if err := e.SetFaults(f); err != nil {
			writeAPIError(w, badRequest("%v", err))
			return
		}
		writeJSON(w, http.StatusOK, e.CurrentFaults())
	})
	mux.HandleFunc("GET "+AdminPrefix+"state", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, e.State())
	})
	mux.HandleFunc("GET "+AdminPrefix+"healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc(AdminPrefix, func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, notFound("no emulator admin route %s %s", r.Method, r.URL.Path))
	})
	return mux
}
