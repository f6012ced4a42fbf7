package planner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// The property: for a random desired state and a random live state in the emulator,
// applying the plan and planning again gives no action. The two states share names and
// meaning but not spelling: each side writes references with or without types, aliases
// or their successors, numbers as 30 or 30.0, "" for no reference, secrets the tenant
// then hides, so convergence also proves that none of these is taken for drift.

var (
	owners   = []string{"2c9180a46faadee4016fb4e018c20001", "2c9180a46faadee4016fb4e018c20002"}
	clusters = []string{"2c9180847a7fccdd017aa5896f9f0001", "2c9180847a7fccdd017aa5896f9f0002"}
	sources  = []string{"2c9180855d191c59015d291ceb050001", "2c9180855d191c59015d291ceb050002", "2c9180855d191c59015d291ceb050003"}
	rules    = []string{"2c918085708c274401708c2a8a760001", "2c918085708c274401708c2a8a760002"}
	types    = []string{"ServiceNowSDIM", "JiraCloudSDIM", "Web Service SDIM"}
)

// sdModel is what a service desk integration means, apart from how it is written.
type sdModel struct {
	name, desc, typ, owner, cluster, rule string
	sources                               []string
	expiration                            *int32
	noRequests                            bool
	url, password, token                  string
	timeout                               int
	tags                                  []string
}

type simModel struct {
	name, desc, typ, cluster, rule string
	sources                        []string
	uid, password                  string
	statusMap                      map[string]any
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func subset(r *rand.Rand, xs []string) []string {
	var out []string
	for _, x := range xs {
		if r.IntN(2) == 0 {
			out = append(out, x)
		}
	}
	return out
}

func randSD(r *rand.Rand, name string) sdModel {
	m := sdModel{name: name, desc: pick(r, "", "Tickets", "Other tickets"), typ: pick(r, types...),
		owner: pick(r, "", owners[0], owners[1]), cluster: pick(r, "", clusters[0], clusters[1]),
		rule: pick(r, "", rules[0], rules[1]), sources: subset(r, sources), noRequests: r.IntN(3) == 0,
		url: pick(r, "https://a.example.com", "https://b.example.com"), password: pick(r, "", "pw-1", "pw-2"),
		token: pick(r, "", "tok"), timeout: pick(r, 0, 30, 60), tags: subset(r, []string{"x", "y"})}
	if r.IntN(3) == 0 {
		e := int32(pick(r, 0, 7, 24))
		m.expiration = &e
	}
	return m
}

// drift changes one or two things about m.
func driftSD(r *rand.Rand, m sdModel) sdModel {
	for range 1 + r.IntN(2) {
		switch r.IntN(8) {
		case 0:
			m.desc += " (edited)"
		case 1:
			m.rule = pick(r, "", rules[0], rules[1])
		case 2:
			m.sources = subset(r, sources)
		case 3:
			m.owner = pick(r, "", owners[0], owners[1])
		case 4:
			m.timeout = pick(r, 0, 31)
		case 5:
			m.url = "https://drifted.example.com"
		case 6:
			m.noRequests = !m.noRequests
		case 7:
			m.cluster = pick(r, "", clusters[0], clusters[1])
		}
	}
	return m
}

// desiredSD writes m as the loader would, choosing one spelling at random.
func desiredSD(r *rand.Rand, m sdModel) sdim.ServiceDeskIntegration {
	s := sdim.ServiceDeskIntegration{Name: m.name, Description: m.desc, Type: m.typ, Attributes: map[string]any{"url": m.url}}
	ref := func(id, typ string) *sdim.Reference {
		if id == "" {
			return nil
		}
		return &sdim.Reference{Type: pick(r, "", typ), ID: id}
	}
	s.OwnerRef, s.BeforeProvisioningRule = ref(m.owner, sdim.RefIdentity), ref(m.rule, sdim.RefRule)
	if m.cluster != "" {
		switch r.IntN(3) {
		case 0:
			s.Cluster = m.cluster
		case 1:
			s.ClusterRef = ref(m.cluster, sdim.RefCluster)
		default:
			s.Cluster, s.ClusterRef = m.cluster, ref(m.cluster, sdim.RefCluster)
		}
	}
	pc := &sdim.ProvisioningConfig{ProvisioningRequestExpiration: m.expiration}
	srcs := slices.Clone(m.sources)
	r.Shuffle(len(srcs), func(i, j int) { srcs[i], srcs[j] = srcs[j], srcs[i] })
	if r.IntN(3) == 0 {
		s.ManagedSources = srcs
	} else {
		for _, id := range srcs {
			pc.ManagedResourceRefs = append(pc.ManagedResourceRefs, *ref(id, sdim.RefSource))
		}
	}
	if m.noRequests || r.IntN(2) == 0 {
		nr := m.noRequests
		pc.NoProvisioningRequests = &nr
	}
	s.ProvisioningConfig = pc
	if m.password != "" {
		s.Attributes["password"] = sdim.NewSecret(m.password, "env:PASSWORD")
	}
	if m.token != "" {
		s.Attributes["auth"] = map[string]any{"user": "svc", "Token": sdim.NewSecret(m.token, "env:TOKEN")}
	}
	if m.timeout != 0 {
		s.Attributes["timeout"] = pick[any](r, int64(m.timeout), float64(m.timeout))
	}
	if len(m.tags) > 0 || r.IntN(2) == 0 {
		tags := make([]any, len(m.tags))
		for i, t := range m.tags {
			tags[i] = t
		}
		s.Attributes["tags"] = tags
	}
	return s
}

// liveSD writes m as a request body that made the live object, choosing one spelling.
func liveSD(r *rand.Rand, m sdModel) map[string]any {
	o := map[string]any{"name": m.name, "description": m.desc, "type": m.typ}
	ref := func(id, typ string) any {
		if id == "" {
			return pick[any](r, nil, "")
		}
		if r.IntN(2) == 0 {
			return map[string]any{"id": id}
		}
		return map[string]any{"type": typ, "id": id}
	}
	o["ownerRef"], o["beforeProvisioningRule"] = ref(m.owner, sdim.RefIdentity), ref(m.rule, sdim.RefRule)
	if m.cluster != "" {
		if r.IntN(2) == 0 {
			o["cluster"] = m.cluster
		} else {
			o["clusterRef"] = ref(m.cluster, sdim.RefCluster)
		}
	}
	pc := map[string]any{}
	if r.IntN(2) == 0 {
		o["managedSources"] = slices.Clone(m.sources)
	} else {
		refs := []any{}
		for _, id := range m.sources {
			refs = append(refs, ref(id, sdim.RefSource))
		}
		pc["managedResourceRefs"] = refs
	}
	if m.noRequests || r.IntN(2) == 0 {
		pc["noProvisioningRequests"] = m.noRequests
	}
	if m.expiration != nil {
		pc["provisioningRequestExpiration"] = *m.expiration
	}
	o["provisioningConfig"] = pc
	attrs := map[string]any{"url": m.url}
	if m.password != "" {
		attrs["password"] = m.password
	}
	if m.token != "" {
		attrs["auth"] = map[string]any{"user": "svc", "token": m.token}
	}
	if m.timeout != 0 {
		attrs["timeout"] = pick(r, json.Number(fmt.Sprint(m.timeout)), json.Number(fmt.Sprintf("%d.0", m.timeout)))
	}
	if len(m.tags) > 0 {
		attrs["tags"] = slices.Clone(m.tags)
	}
	o["attributes"] = attrs
	return o
}

func randSIM(r *rand.Rand, name string) simModel {
	return simModel{name: name, desc: pick(r, "", "Legacy"), typ: "ServiceNow Service Desk", cluster: pick(r, "", "xyzzy999"),
		rule: pick(r, "", rules[0], rules[1]), sources: subset(r, sources), uid: pick(r, "svc", "svc2"),
		password: pick(r, "", "pw"), statusMap: pick(r, map[string]any(nil), map[string]any{"closed": "Committed"})}
}

func driftSIM(r *rand.Rand, m simModel) simModel {
	switch r.IntN(4) {
	case 0:
		m.rule = pick(r, "", rules[0], rules[1])
	case 1:
		m.sources = subset(r, sources)
	case 2:
		m.uid += "-edited"
	default:
		m.desc += " (edited)"
	}
	return m
}

func desiredSIM(r *rand.Rand, m simModel) sdim.SIMIntegration {
	s := sdim.SIMIntegration{Name: m.name, Description: m.desc, Type: m.typ, Cluster: m.cluster, Sources: slices.Clone(m.sources),
		Attributes: map[string]any{"uid": m.uid}, StatusMap: m.statusMap}
	r.Shuffle(len(s.Sources), func(i, j int) { s.Sources[i], s.Sources[j] = s.Sources[j], s.Sources[i] })
	if m.rule != "" {
		s.BeforeProvisioningRule = &sdim.Reference{Type: pick(r, "", sdim.RefRule), ID: m.rule}
	}
	if m.password != "" {
		s.Attributes["password"] = sdim.NewSecret(m.password, "env:SIM_PASSWORD")
	}
	return s
}

func liveSIM(m simModel) map[string]any {
	o := map[string]any{"name": m.name, "description": m.desc, "type": m.typ, "cluster": m.cluster, "sources": slices.Clone(m.sources),
		"attributes": map[string]any{"uid": m.uid}}
	if m.statusMap != nil {
		o["statusMap"] = m.statusMap
	}
	if m.rule != "" {
		o["beforeProvisioningRule"] = map[string]any{"id": m.rule}
	}
	if m.password != "" {
		o["attributes"].(map[string]any)["password"] = m.password
	}
	return o
}

// world is one random pair of states.
type world struct {
	live   emulator.State
	want   *desired.State
	policy planner.Policy
}

func randomWorld(r *rand.Rand) world {
	var w world
	w.want = &desired.State{Dir: "random"}
	line := 1
	src := func() desired.Source { line += 10; return desired.Source{File: "random.yaml", Line: line, Column: 1} }
	sdNames := make([]string, 14)
	for i := range sdNames {
		sdNames[i] = fmt.Sprintf("Desk %02d", i)
	}
	var liveNames []string
	for _, n := range sdNames {
		inLive, inWant := r.IntN(3) != 0, r.IntN(3) != 0
		m := randSD(r, n)
		if inLive {
			w.live.ServiceDeskIntegrations = append(w.live.ServiceDeskIntegrations, liveSD(r, m))
			liveNames = append(liveNames, n)
		}
		if !inWant {
			continue
		}
		if r.IntN(3) == 0 {
			m = driftSD(r, m)
		}
		res := desired.ServiceDeskResource{Resource: desired.Resource{Kind: sdim.KindServiceDesk, Name: n, Source: src()}, Spec: desiredSD(r, m)}
		if r.IntN(6) == 0 {
			res.Options.Ignore = []string{pick(r, "/description", "/attributes/timeout", "/beforeProvisioningRule")}
		}
		if r.IntN(8) == 0 {
			res.Options.Mode = desired.ModeObserve
		}
		w.want.ServiceDesk = append(w.want.ServiceDesk, res)
	}
	// A rename: a desired object whose previous name is live and not declared.
	for _, n := range liveNames {
		if !slices.ContainsFunc(w.want.ServiceDesk, func(d desired.ServiceDeskResource) bool { return d.Name == n }) && r.IntN(2) == 0 {
			m := randSD(r, n+" renamed")
			res := desired.ServiceDeskResource{Resource: desired.Resource{Kind: sdim.KindServiceDesk, Name: m.name, Source: src(),
				Options: desired.Options{PreviousNames: []string{"Never There", n}}}, Spec: desiredSD(r, m)}
			w.want.ServiceDesk = append(w.want.ServiceDesk, res)
			break
		}
	}
	if len(w.want.ServiceDesk) == 0 {
		m := randSD(r, "Desk Always")
		w.want.ServiceDesk = append(w.want.ServiceDesk, desired.ServiceDeskResource{Resource: desired.Resource{Kind: sdim.KindServiceDesk, Name: m.name, Source: src()}, Spec: desiredSD(r, m)})
	}
	for i := range 6 {
		n := fmt.Sprintf("SIM %d", i)
		m := randSIM(r, n)
		if r.IntN(3) != 0 {
			w.live.SIMIntegrations = append(w.live.SIMIntegrations, liveSIM(m))
		}
		if r.IntN(3) == 0 && i != 0 {
			continue
		}
		if r.IntN(3) == 0 {
			m = driftSIM(r, m)
		}
		w.want.SIM = append(w.want.SIM, desired.SIMResource{Resource: desired.Resource{Kind: sdim.KindSIM, Name: n, Source: src()}, Spec: desiredSIM(r, m)})
	}
	if r.IntN(2) == 0 {
		w.want.StatusCheck = &desired.StatusCheckResource{Resource: desired.Resource{Kind: sdim.KindStatusCheck, Source: src()},
			Spec: sdim.StatusCheckConfiguration{ProvisioningStatusCheckIntervalMinutes: pick(r, "30", "45"), ProvisioningMaxStatusCheckDays: pick(r, "2", "3")}}
	}
	w.policy = planner.DefaultPolicy()
	w.policy.MaxDeletes = -1
	w.policy.Prune = r.IntN(2) == 0
	if r.IntN(2) == 0 {
		w.policy.ManagedScope = []string{"Desk 1*", "SIM [0-3]"}
	}
	return w
}

type liveTenant struct {
	emu    *emulator.Emulator
	client *tenant.Client
}

func startTenant(t testing.TB) liveTenant {
	t.Helper()
	names := map[string]string{owners[0]: "Alice", owners[1]: "Bob", clusters[0]: "VA 1", rules[0]: "Rule 1", sources[0]: "HR"}
	e, err := emulator.New(emulator.Config{RefNames: names, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(func() { srv.Close(); _ = e.Close() })
	s, err := tenant.Config{BaseURL: srv.URL, ClientID: emulator.DemoClientID, APIVersion: string(sdim.V2024)}.
		Overlay(tenant.Config{ClientSecret: sdim.NewSecret(emulator.DemoClientSecret, "test")}).Settings(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.RetryBaseDelay, s.RetryMaxDelay = time.Millisecond, 5*time.Millisecond
	s.RateLimit, s.RateWindow = 100000, time.Second
	c, err := tenant.New(s, tenant.WithTransport(srv.Client().Transport))
	if err != nil {
		t.Fatal(err)
	}
	return liveTenant{emu: e, client: c}
}

// applyPlan runs a plan's applicable changes in order with the tenant client: a stand-in
// for the applier, without its retries and fallbacks.
func applyPlan(ctx context.Context, c *tenant.Client, res *planner.Result) error {
	ops := func(ch planner.Change) []tenant.PatchOp {
		out := make([]tenant.PatchOp, len(ch.Patch))
		for i, op := range ch.Patch {
			out[i] = tenant.Replace(op.Path, op.Value)
		}
		return out
	}
	for _, ch := range res.Applicable() {
		var err error
		switch {
		case ch.Kind == sdim.KindStatusCheck:
			_, err = c.PutStatusCheck(ctx, *ch.StatusCheck)
		case ch.Kind == sdim.KindServiceDesk && ch.Action == planner.ActionCreate:
			_, err = c.CreateServiceDesk(ctx, *ch.ServiceDesk)
		case ch.Kind == sdim.KindServiceDesk && ch.Action == planner.ActionPut:
			_, err = c.PutServiceDesk(ctx, ch.ID, *ch.ServiceDesk)
		case ch.Kind == sdim.KindServiceDesk && ch.Action == planner.ActionPatch:
			_, err = c.PatchServiceDesk(ctx, ch.ID, ch.Name, ops(ch))
		case ch.Kind == sdim.KindServiceDesk && ch.Action == planner.ActionDelete:
			err = c.DeleteServiceDesk(ctx, ch.ID, ch.Name)
		case ch.Kind == sdim.KindSIM && ch.Action == planner.ActionCreate:
			_, err = c.CreateSIM(ctx, *ch.SIM)
		case ch.Kind == sdim.KindSIM && ch.Action == planner.ActionPut:
			_, err = c.PutSIM(ctx, ch.ID, *ch.SIM)
		case ch.Kind == sdim.KindSIM && ch.Action == planner.ActionPatch:
			_, err = c.PatchSIM(ctx, ch.ID, ch.Name, ops(ch))
		case ch.Kind == sdim.KindSIM && ch.Action == planner.ActionDelete:
			err = c.DeleteSIM(ctx, ch.ID, ch.Name)
		default:
			err = fmt.Errorf("unknown change")
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", ch.Action, ch.Label(), err)
		}
	}
	return nil
}

func TestConvergesInOneStep(t *testing.T) {
	seeds := []uint64{1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233}
	if testing.Short() {
		seeds = seeds[:3]
	}
	var total planner.Counts
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, seed^0x5d1))
			w := randomWorld(r)
			lt := startTenant(t)
			if err := lt.emu.Seed(w.live); err != nil {
				t.Fatalf("seed: %v", err)
			}
			ctx := t.Context()
			snap := func() *sdim.Live {
				live, err := lt.client.Snapshot(ctx, tenant.SnapshotOptions{SIM: true})
				if err != nil {
					t.Fatal(err)
				}
				return live
			}
			first := mustPlan(t, w.want, snap(), w.policy)
			if first.BlockedError() != nil {
				t.Fatalf("blocked: %v", first.BlockedError())
			}
			if err := applyPlan(ctx, lt.client, first); err != nil {
				t.Fatalf("apply: %v\nplan:%s", err, describe(first))
			}
			second := mustPlan(t, w.want, snap(), w.policy)
			if n := len(second.Applicable()); n != 0 {
				t.Fatalf("after applying, the plan still holds %d changes:%s\nfirst plan:%s", n, describe(second), describe(first))
			}
			// Observe-only changes are never applied, so they are still there.
			if second.Counts.Observe != first.Counts.Observe {
				t.Errorf("observe-only changes moved: %d then %d", first.Counts.Observe, second.Counts.Observe)
			}
			c := first.Counts
			total.Unmanaged += c.Unmanaged
			total.Create += c.Create
			total.Patch += c.Patch
			total.Put += c.Put
			total.Delete += c.Delete
			total.Observe += c.Observe
			total.InSync += c.InSync
		})
	}
	t.Logf("first plans in all: %+v", total)
	// The random worlds must exercise every action, or the property proves little.
	if !testing.Short() && (total.Create == 0 || total.Patch == 0 || total.Put == 0 || total.Delete == 0 || total.Observe == 0 || total.InSync == 0) {
		t.Errorf("the random states do not exercise every action: %+v", total)
	}
}
