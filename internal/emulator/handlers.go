package emulator

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// maxBody bounds a request body; the tenant's objects are far smaller.
const maxBody = 4 << 20

// maxPageSize is the API's largest limit.
const maxPageSize = 250

func (e *Emulator) routes() {
	e.api = http.NewServeMux()
	for _, v := range sdim.APIVersions() {
		base := v.ServiceDeskPath()
		e.api.HandleFunc(base, methods(base, map[string]http.HandlerFunc{
			http.MethodGet:  e.listSDIM,
			http.MethodPost: e.createSDIM,
		}))
		e.api.HandleFunc(base+"/types", methods(base+"/types", map[string]http.HandlerFunc{http.MethodGet: e.getTypes}))
		e.api.HandleFunc(base+"/templates/{scriptName}", methods(base+"/templates/{scriptName}", map[string]http.HandlerFunc{http.MethodGet: e.getTemplate}))
		e.api.HandleFunc(base+"/status-check-configuration", methods(base+"/status-check-configuration", map[string]http.HandlerFunc{
			http.MethodGet: e.getStatusCheck,
			http.MethodPut: e.putStatusCheck,
		}))
		e.api.HandleFunc(base+"/{id}", methods(base+"/{id}", map[string]http.HandlerFunc{
			http.MethodGet:    e.getSDIM,
			http.MethodPut:    e.putSDIM,
			http.MethodPatch:  e.patchSDIM,
			http.MethodDelete: e.deleteSDIM,
		}))
		if !v.HasSIM() {
			continue
		}
		sbase := v.SIMPath()
		e.api.HandleFunc(sbase, experimental(methods(sbase, map[string]http.HandlerFunc{
			http.MethodGet:  e.listSIM,
			http.MethodPost: e.createSIM,
		})))
		e.api.HandleFunc(sbase+"/{id}", experimental(methods(sbase+"/{id}", map[string]http.HandlerFunc{
			http.MethodGet:    e.getSIM,
			http.MethodPut:    e.putSIM,
			http.MethodPatch:  e.patchSIM,
			http.MethodDelete: e.deleteSIM,
		})))
		e.api.HandleFunc(sbase+"/{id}/beforeProvisioningRule", experimental(methods(sbase+"/{id}/beforeProvisioningRule",
			map[string]http.HandlerFunc{http.MethodPatch: e.patchSIMRule})))
	}
	e.api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, notFound("no API route %s %s", r.Method, r.URL.Path))
	})
	e.admin = e.adminRoutes()
}

func methods(route string, byMethod map[string]http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h, ok := byMethod[r.Method]
		if !ok {
			allowed := make([]string, 0, len(byMethod))
			for m := range byMethod {
				allowed = append(allowed, m)
			}
			sort.Strings(allowed)
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeAPIError(w, methodNotAllowed(r.Method, route))
			return
		}
		h(w, r)
	}
}

// experimental refuses SIM calls without X-SailPoint-Experimental: true.
func experimental(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(strings.TrimSpace(r.Header.Get(sdim.ExperimentalHeader)), "true") {
			writeAPIError(w, badRequest("this API is experimental: send the header %s: true to use it", sdim.ExperimentalHeader))
			return
		}
		next(w, r)
	}
}

// readBody checks the content type and decodes a JSON body.
func readBody(r *http.Request, wantType string) (any, *apiError) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != wantType {
		return nil, unsupportedMediaType("Content-Type must be %s, not %s", wantType, quoteOrEmpty(ct))
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, badRequest("reading the request body: %v", err)
	}
	if len(b) > maxBody {
		return nil, badRequest("the request body is over %d bytes", maxBody)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, badRequest("the request body is empty")
	}
	v, err := decodeJSON(b)
	if err != nil {
		return nil, badRequest("the request body is not valid JSON: %v", err)
	}
	return v, nil
}

func readObject(r *http.Request) (map[string]any, *apiError) {
	v, err := readBody(r, "application/json")
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("the request body must be a JSON object, not %s", jsonType(v))
	}
	return m, nil
}

// listParams are the collection parameters of a list call.
type listParams struct {
	offset, limit int
	count         bool
	filter        filterNode
	byName        int // 0 default order, 1 name, -1 -name
}

func parseListParams(r *http.Request) (listParams, *apiError) {
	q := r.URL.Query()
	p := listParams{limit: maxPageSize}
	if s := q.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, badRequest("'offset' must be an integer of 0 or more, not %q", s)
		}
		p.offset = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > maxPageSize {
			return p, badRequest("'limit' must be an integer from 0 to %d, not %q", maxPageSize, s)
		}
		p.limit = n
	}
	if s := q.Get("count"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return p, badRequest("'count' must be true or false, not %q", s)
		}
		p.count = b
	}
	f, err := parseFilter(q.Get("filters"))
	if err != nil {
		return p, badRequest("invalid 'filters': %v", err)
	}
	p.filter = f
	switch s := q.Get("sorters"); s {
	case "":
	case "name":
		p.byName = 1
	case "-name":
		p.byName = -1
	default:
		return p, badRequest("invalid 'sorters' %q: sorting is supported on name only (name or -name)", s)
	}
	return p, nil
}

func (e *Emulator) list(w http.ResponseWriter, r *http.Request, c *collection) {
	p, aerr := parseListParams(r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	e.mu.Lock()
	all := c.order
	if p.byName != 0 {
		all = c.byNameOrder()
	}
	total, n := 0, 0
	for i := range all {
		o := all[i]
		if p.byName < 0 {
			o = all[len(all)-1-i]
		}
		if p.filter != nil && !p.filter.match(o) {
			continue
		}
		if total >= p.offset && n < p.limit {
			if n > 0 {
				buf.WriteByte(',')
			}
			buf.Write(o.wire)
			n++
		} else if n == p.limit && !p.count {
			break // the page is full and nobody asked for the total
		}
		total++
	}
	e.mu.Unlock()
	buf.WriteByte(']')
	if p.count {
		w.Header().Set("X-Total-Count", strconv.Itoa(total))
	}
	writeRawJSON(w, http.StatusOK, buf.Bytes())
}

// touch returns the time of a write: now, but always after the previous write, so that
// `modified` moves on every write even when the clock does not.
func (e *Emulator) touch() time.Time {
	now := e.cfg.Now().UTC().Truncate(time.Millisecond)
	if !now.After(e.lastWrite) {
		now = e.lastWrite.Add(time.Millisecond)
	}
	e.lastWrite = now
	return now
}

// committed records a write that changed the tenant.
func (e *Emulator) committed() {
	e.counters.committed()
	if e.persist != nil {
		e.persist.changed()
	}
}

type kindOps struct {
	coll      func(e *Emulator) *collection
	normalize func(n normalizer, raw map[string]any) (map[string]any, *apiError)
	render    func(o *object, s sdim.SecretKeySet) []byte
}

var (
	sdimOps = kindOps{
		coll:      func(e *Emulator) *collection { return e.sdim },
		normalize: normalizer.sdim,
		render:    renderSDIM,
	}
	simOps = kindOps{
		coll:      func(e *Emulator) *collection { return e.sim },
		normalize: normalizer.sim,
		render:    renderSIM,
	}
)

func (e *Emulator) create(w http.ResponseWriter, r *http.Request, k kindOps) {
	raw, aerr := readObject(r)
	if aerr == nil {
		var wire []byte
		wire, aerr = e.insert(k, raw, nil)
		if aerr == nil {
			writeRawJSON(w, http.StatusOK, wire) // the API answers a create with 200
			return
		}
	}
	writeAPIError(w, aerr)
}

// seedMeta carries what a seed file may set that the API does not let a client set.
type seedMeta struct {
	id                string
	created, modified time.Time
}

// insert validates and stores a new object. A create from the API has no seed; a seeded
// object keeps its id and timestamps where given and is not counted as a committed write.
func (e *Emulator) insert(k kindOps, raw map[string]any, seed *seedMeta) ([]byte, *apiError) {
	var id string
	var created, modified time.Time
	if seed != nil {
		id, created, modified = seed.id, seed.created, seed.modified
	}
	doc, aerr := k.normalize(e.norm, raw)
	if aerr != nil {
		return nil, aerr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := k.coll(e)
	name := doc["name"].(string)
	if c.nameTaken(name, "") {
		return nil, badRequest("'name': a %s named %q already exists; names must be unique", c.kind, name)
	}
	if id == "" {
		id = newID()
	} else if _, taken := c.byID[id]; taken {
		return nil, badRequest("'id': a %s with id %q already exists", c.kind, id)
	}
	now := e.touch()
	if created.IsZero() {
		created = now
	}
	if modified.IsZero() {
		modified = now
	}
	o := &object{id: id, doc: doc, created: created, modified: modified}
	o.wire = k.render(o, e.secrets)
	c.add(o)
	if seed == nil {
		e.committed()
	} else if e.persist != nil {
		e.persist.changed()
	}
	return o.wire, nil
}

func (e *Emulator) get(w http.ResponseWriter, r *http.Request, k kindOps) {
	e.mu.Lock()
	c := k.coll(e)
	o, ok := c.byID[r.PathValue("id")]
	var wire []byte
	if ok {
		wire = o.wire // read under the lock: a write replaces it
	}
	e.mu.Unlock()
	if !ok {
		writeAPIError(w, notFound("%s %q not found", c.kind, r.PathValue("id")))
		return
	}
	writeRawJSON(w, http.StatusOK, wire)
}

func (e *Emulator) put(w http.ResponseWriter, r *http.Request, k kindOps) {
	raw, aerr := readObject(r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	doc, aerr := k.normalize(e.norm, raw)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	wire, aerr := e.update(k, r.PathValue("id"), doc)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	writeRawJSON(w, http.StatusOK, wire)
}

// update replaces an object's writable fields with doc, which is already normalized.
func (e *Emulator) update(k kindOps, id string, doc map[string]any) ([]byte, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := k.coll(e)
	o, ok := c.byID[id]
	if !ok {
		return nil, notFound("%s %q not found", c.kind, id)
	}
	name := doc["name"].(string)
	if c.nameTaken(name, id) {
		return nil, badRequest("'name': a %s named %q already exists; names must be unique", c.kind, name)
	}
	c.replace(o, doc)
	o.modified = e.touch()
	o.wire = k.render(o, e.secrets)
	e.committed()
	return o.wire, nil
}

func (e *Emulator) remove(w http.ResponseWriter, r *http.Request, k kindOps, okStatus int) {
	id := r.PathValue("id")
	e.mu.Lock()
	c := k.coll(e)
	o, ok := c.byID[id]
	if ok {
		c.remove(o)
		e.touch()
		e.committed()
	}
	e.mu.Unlock()
	if !ok {
		writeAPIError(w, notFound("%s %q not found", c.kind, id))
		return
	}
	w.WriteHeader(okStatus)
}

func (e *Emulator) listSDIM(w http.ResponseWriter, r *http.Request)   { e.list(w, r, e.sdim) }
func (e *Emulator) createSDIM(w http.ResponseWriter, r *http.Request) { e.create(w, r, sdimOps) }
func (e *Emulator) getSDIM(w http.ResponseWriter, r *http.Request)    { e.get(w, r, sdimOps) }
func (e *Emulator) putSDIM(w http.ResponseWriter, r *http.Request)    { e.put(w, r, sdimOps) }
func (e *Emulator) deleteSDIM(w http.ResponseWriter, r *http.Request) {
	e.remove(w, r, sdimOps, http.StatusNoContent)
}
func (e *Emulator) listSIM(w http.ResponseWriter, r *http.Request)   { e.list(w, r, e.sim) }
func (e *Emulator) createSIM(w http.ResponseWriter, r *http.Request) { e.create(w, r, simOps) }
func (e *Emulator) getSIM(w http.ResponseWriter, r *http.Request)    { e.get(w, r, simOps) }
func (e *Emulator) putSIM(w http.ResponseWriter, r *http.Request)    { e.put(w, r, simOps) }

// deleteSIM answers 200 without a body: the SIM definitions document 200, not 204.
func (e *Emulator) deleteSIM(w http.ResponseWriter, r *http.Request) {
	e.remove(w, r, simOps, http.StatusOK)
}

// StatusCheck is the status-check configuration singleton; both values are strings holding
// positive integers, as on the wire.
type StatusCheck struct {
	ProvisioningStatusCheckIntervalMinutes string `json:"provisioningStatusCheckIntervalMinutes" yaml:"provisioningStatusCheckIntervalMinutes"`
	ProvisioningMaxStatusCheckDays         string `json:"provisioningMaxStatusCheckDays" yaml:"provisioningMaxStatusCheckDays"`
}

// DefaultStatusCheck is the configuration of a new tenant.
func DefaultStatusCheck() StatusCheck {
	return StatusCheck{ProvisioningStatusCheckIntervalMinutes: "30", ProvisioningMaxStatusCheckDays: "2"}
}

func (s StatusCheck) validate() *apiError {
	for field, v := range map[string]string{
		"provisioningStatusCheckIntervalMinutes": s.ProvisioningStatusCheckIntervalMinutes,
		"provisioningMaxStatusCheckDays":         s.ProvisioningMaxStatusCheckDays,
	} {
		if n, err := strconv.ParseInt(v, 10, 32); err != nil || n <= 0 {
			return badRequest("'%s' must be a string holding a positive integer, not %q", field, v)
		}
	}
	return nil
}

func (e *Emulator) getStatusCheck(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	s := e.statusCheck
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, s)
}

func (e *Emulator) putStatusCheck(w http.ResponseWriter, r *http.Request) {
	raw, aerr := readObject(r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	var s StatusCheck
	var err *apiError
	if s.ProvisioningStatusCheckIntervalMinutes, err = requiredString(raw, "provisioningStatusCheckIntervalMinutes", false); err != nil {
		writeAPIError(w, err)
		return
	}
	if s.ProvisioningMaxStatusCheckDays, err = requiredString(raw, "provisioningMaxStatusCheckDays", false); err != nil {
		writeAPIError(w, err)
		return
	}
	if err := s.validate(); err != nil {
		writeAPIError(w, err)
		return
	}
	e.mu.Lock()
	e.statusCheck = s
	e.touch()
	e.committed()
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, s)
}

func (e *Emulator) getTypes(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, integrationTypes())
}

func (e *Emulator) getTemplate(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("scriptName")
	t, ok := findTemplate(name)
	if !ok {
		writeAPIError(w, notFound("no service desk integration template with scriptName %q", name))
		return
	}
	writeJSON(w, http.StatusOK, t)
}
