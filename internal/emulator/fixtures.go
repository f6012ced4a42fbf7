package emulator

// The integration types and templates the emulator serves. They name the integrations
// SailPoint lists (ServiceNow, Jira Service Management Cloud and Server, BMC Helix ITSM,
// BMC Helix Remedyforce, Generic, Zendesk) but their type values, script names and
// attributes are illustrative: a real tenant's differ. Create does not check `type`
// against them, as sdim-sync must work with types this list does not know.

// IntegrationType is one entry of the types endpoint.
type IntegrationType struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	ScriptName string `json:"scriptName"`
}

// Template is a ServiceDeskIntegrationTemplateDto.
type Template struct {
	ID                 string         `json:"id"`
	Name               string         `json:"name"`
	Created            string         `json:"created"`
	Modified           string         `json:"modified"`
	Type               string         `json:"type"`
	Attributes         map[string]any `json:"attributes"`
	ProvisioningConfig map[string]any `json:"provisioningConfig"`
}

type fixture struct {
	IntegrationType
	attributes map[string]any
}

func fixtures() []fixture {
	return []fixture{
		{IntegrationType{"ServiceNow Service Desk", "ServiceNowSDIM", "servicenow-service-desk"},
			map[string]any{"url": "https://example.service-now.com", "username": "", "password": "", "authType": "basic", "requestType": "catalog"}},
		{IntegrationType{"Atlassian Cloud Jira Service Management", "JiraCloudSDIM", "jira-cloud-service-desk"},
			map[string]any{"url": "https://example.atlassian.net", "username": "", "apiKey": "", "projectKey": "", "issueType": "Service Request"}},
		{IntegrationType{"Atlassian Server Jira Service Management", "JiraServerSDIM", "jira-server-service-desk"},
			map[string]any{"url": "https://jira.example.com", "username": "", "password": "", "projectKey": "", "issueType": "Service Request"}},
		{IntegrationType{"BMC Helix ITSM Service Desk", "BMCHelixITSMSDIM", "bmc-helix-itsm-service-desk"},
			map[string]any{"url": "https://example.onbmc.com", "username": "", "password": "", "company": ""}},
		{IntegrationType{"BMC Helix Remedyforce Service Desk", "BMCHelixRemedyforceSDIM", "bmc-helix-remedyforce-service-desk"},
			map[string]any{"url": "https://login.salesforce.com", "username": "", "password": "", "clientId": "", "clientSecret": ""}},
		{IntegrationType{"Generic Service Desk", "Web Service SDIM", "generic-service-desk"},
			map[string]any{"url": "https://servicedesk.example.com/api", "authType": "none", "createTicketPath": "/tickets", "statusPath": "/tickets/{id}"}},
		{IntegrationType{"Zendesk Service Desk", "ZendeskSDIM", "zendesk-service-desk"},
			map[string]any{"url": "https://example.zendesk.com", "username": "", "token": ""}},
	}
}

func integrationTypes() []IntegrationType {
	fs := fixtures()
	out := make([]IntegrationType, len(fs))
	for i, f := range fs {
		out[i] = f.IntegrationType
	}
	return out
}

func findTemplate(scriptName string) (Template, bool) {
	for i, f := range fixtures() {
		if f.ScriptName == scriptName {
			return Template{
				ID:         "5e4d8e0a0c5e4a6f9c3b2a1d0000000" + string(rune('1'+i)),
				Name:       f.Name,
				Created:    "2024-01-17T18:45:25.994Z",
				Modified:   "2024-02-18T18:45:25.994Z",
				Type:       f.Type,
				Attributes: f.attributes,
				ProvisioningConfig: map[string]any{
					"universalManager":       false,
					"managedResourceRefs":    []any{},
					"noProvisioningRequests": false,
				},
			}, true
		}
	}
	return Template{}, false
}
