// Holds the owner-key HMAC secret; the Function App reads it through a Key Vault reference.
// RBAC only (no access policies); the API identity gets Key Vault Secrets User in rbac.bicep.
param name string
param location string
param tags object

@secure()
param ownerKeySecret string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// Re-provisioning writes the same value (azd keeps the generated parameter), so owner keys
// issued earlier stay valid.
resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'OwnerKeySecret'
  properties: {
    value: ownerKeySecret
    contentType: 'text/plain; HMAC key for CodeStream owner keys'
    attributes: {
      enabled: true
    }
  }
}

output name string = vault.name
// Versionless URI: the app always resolves the current version.
output ownerKeySecretUri string = secret.properties.secretUri
