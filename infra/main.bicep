// CodeStream on Azure: Web PubSub + Function App (Flex Consumption) + Static Web App.
// Subscription scope, as azd expects: the template creates its own resource group.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment: part of every resource name and of the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Region of every resource except the Static Web App. Flex Consumption regions only (infra/README.md; `az functionapp list-flexconsumption-locations` has the current list).')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({ azd: { type: 'location' } })
param location string

@description('Region of the Static Web App (the Free plan exists in these regions only).')
@allowed([
  'centralus'
  'eastasia'
  'eastus2'
  'westeurope'
  'westus2'
])
param staticWebAppLocation string = 'westeurope'

@description('Object id of the person running azd (AZURE_PRINCIPAL_ID): may call the Web PubSub data plane with Entra ID, for debugging. Empty = no assignment.')
param principalId string = ''

@description('Web PubSub SKU: Free_F1 (demo, 20 connections, no SLA), Standard_S1 (1,000 connections per unit), Premium_P1.')
@allowed([
  'Free_F1'
  'Standard_S1'
  'Premium_P1'
])
param webPubSubSku string = 'Free_F1'

@description('Web PubSub units (Standard_S1, Premium_P1): 1-10, 20, 30 ... 100; Free_F1 always has 1.')
@allowed([
  1
  2
  3
  4
  5
  6
  7
  8
  9
  10
  20
  30
  40
  50
  60
  70
  80
  90
  100
])
param webPubSubCapacity int = 1

@description('Upper bound of Flex Consumption instances (40-1000): caps cost and fan-out of the control path.')
@minValue(40)
@maxValue(1000)
param functionMaximumInstanceCount int = 40

@description('Memory of one Flex Consumption instance, in MB.')
@allowed([
  2048
  4096
])
param functionInstanceMemoryMB int = 2048

@description('Audience of the token Web PubSub sends to the event handler. Empty = the client id of the API\'s managed identity (no app registration needed); the documented alternative is an Entra application\'s client id or Application ID URI (infra/README.md).')
param upstreamAudience string = ''

@description('Days a stream\'s stored history is kept after its last change (lifecycle rule on the streams container).')
@minValue(1)
param streamRetentionDays int = 30

@secure()
@minLength(32)
@description('HMAC secret behind owner keys. azd generates it once and keeps it in the environment, so re-provisioning never rotates it; CI passes it as OWNER_KEY_SECRET (main.parameters.json).')
@metadata({ azd: { type: 'generate', config: { length: 48, noSpecial: true } } })
param ownerKeySecret string

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var hubName = 'codestream'
// The container of stored streams (codestream/contract.json, storage.container).
var streamsContainerName = 'streams'
// The Function App route of the Web PubSub event handler (codestream/routes.py, EVENT_HANDLER_PATH).
var eventHandlerPath = '/api/webpubsub/events'

resource rg 'Microsoft.Resources/resourceGroups@2024-11-01' = {
  name: '${abbrs.resourceGroup}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentity}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.logAnalytics}${resourceToken}'
    appInsightsName: '${abbrs.appInsights}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storage}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: 'app-package-${resourceToken}'
    streamsContainerName: streamsContainerName
    streamRetentionDays: streamRetentionDays
  }
}

module vault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: '${abbrs.keyVault}${resourceToken}'
    location: location
    tags: tags
    ownerKeySecret: ownerKeySecret
  }
}

module webPubSub 'app/webpubsub.bicep' = {
  name: 'webpubsub'
  scope: rg
  params: {
    name: '${abbrs.webPubSub}${resourceToken}'
    location: location
    tags: tags
    sku: webPubSubSku
    capacity: webPubSubCapacity
  }
}

module web 'app/web.bicep' = {
  name: 'web'
  scope: rg
  params: {
    name: '${abbrs.staticWebApp}${resourceToken}'
    location: staticWebAppLocation
    tags: tags
    serviceName: 'web'
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: '${abbrs.functionApp}${resourceToken}'
    planName: '${abbrs.plan}${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appInsightsConnectionString: monitoring.outputs.connectionString
    allowedOrigin: web.outputs.uri
    maximumInstanceCount: functionMaximumInstanceCount
    instanceMemoryMB: functionInstanceMemoryMB
    webPubSubEndpoint: 'https://${webPubSub.outputs.hostName}'
    webPubSubHub: hubName
    ownerKeySecretUri: vault.outputs.ownerKeySecretUri
    upstreamAudience: empty(upstreamAudience) ? identity.outputs.clientId : upstreamAudience
    upstreamTenantId: tenant().tenantId
    upstreamPrincipalId: webPubSub.outputs.principalId
    upstreamAuthorityHost: environment().authentication.loginEndpoint
    streamStorageAccountUrl: storage.outputs.blobEndpoint
    streamStorageContainer: storage.outputs.streamsContainerName
    siteUrl: web.outputs.uri
  }
}

module hub 'app/webpubsub-hub.bicep' = {
  name: 'webpubsub-hub'
  scope: rg
  params: {
    webPubSubName: webPubSub.outputs.name
    hubName: hubName
    eventHandlerUrl: '${api.outputs.uri}${eventHandlerPath}'
    upstreamAudience: empty(upstreamAudience) ? identity.outputs.clientId : upstreamAudience
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    apiPrincipalId: identity.outputs.principalId
    developerPrincipalId: principalId
    storageAccountName: storage.outputs.name
    streamsContainerName: storage.outputs.streamsContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    keyVaultName: vault.outputs.name
    webPubSubName: webPubSub.outputs.name
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output SERVICE_WEB_NAME string = web.outputs.name
output SERVICE_WEB_URI string = web.outputs.uri
output WEB_PUBSUB_ENDPOINT string = 'https://${webPubSub.outputs.hostName}'
output WEB_PUBSUB_HUB string = hubName
