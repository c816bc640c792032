// The Function App (Python 3.11, Flex Consumption) with its plan, settings and CORS.
// Every CodeStream setting the code reads (codestream/config.py) is set here, and no other;
// the rest are the Functions host's own, all identity-based (no keys, no connection secrets).
param name string
param planName string
param location string
param tags object
param serviceName string = 'api'

param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerUrl string
param appInsightsConnectionString string

@description('The only origin allowed by CORS: the Static Web App.')
param allowedOrigin string

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@allowed([
  2048
  4096
])
param instanceMemoryMB int

param webPubSubEndpoint string
param webPubSubHub string
param ownerKeySecretUri string
param upstreamAudience string
param upstreamTenantId string
param upstreamPrincipalId string

@description('Entra sign-in host of this cloud (environment().authentication.loginEndpoint): where the upstream tokens\' keys and issuer come from.')
param upstreamAuthorityHost string

@description('The storage account\'s blob endpoint, for the stored streams (managed identity).')
param streamStorageAccountUrl string
param streamStorageContainer string

@description('The Static Web App\'s URL: where oEmbed answers point the embeds they build.')
param siteUrl string

var appSettings = {
  // Functions host storage and telemetry, through the user-assigned identity.
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // azure-identity: the identity DefaultAzureCredential uses to call Web PubSub.
  AZURE_CLIENT_ID: identityClientId
  // CodeStream (codestream/config.py).
  WebPubSubEndpoint: webPubSubEndpoint
  WebPubSubHub: webPubSubHub
  OwnerKeySecret: '@Microsoft.KeyVault(SecretUri=${ownerKeySecretUri})'
  WebPubSubUpstreamAudience: upstreamAudience
  WebPubSubUpstreamTenantId: upstreamTenantId
  WebPubSubUpstreamPrincipalId: upstreamPrincipalId
  WebPubSubUpstreamAuthorityHost: upstreamAuthorityHost
  StreamStorageAccountUrl: streamStorageAccountUrl
  StreamStorageContainer: streamStorageContainer
  SiteUrl: siteUrl
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      // Flex Consumption rejects ftpsState, http20Enabled, alwaysOn, linuxFxVersion and more
      // (infra/README.md, "Platform rules the schema cannot express"; test_platform_rules.py).
      minTlsVersion: '1.2'
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: setting.value
      }]
      cors: {
        allowedOrigins: [
          allowedOrigin
        ]
        supportCredentials: false
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Children are top-level resources with `parent` (never nested) so every parser sees them.
// azd deploys with Entra ID; publishing with basic credentials stays off.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output uri string = 'https://${site.properties.defaultHostName}'
