// Web PubSub service: Entra ID only (no access keys); a system-assigned identity signs the
// upstream calls to the event handler.
param name string
param location string
param tags object

@allowed([
  'Free_F1'
  'Standard_S1'
  'Premium_P1'
])
param sku string

@minValue(1)
@maxValue(100)
param capacity int

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' = {
  name: name
  location: location
  tags: tags
  kind: 'WebPubSub'
  sku: {
    name: sku
    capacity: (sku == 'Free_F1') ? 1 : capacity
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    disableLocalAuth: true
    disableAadAuth: false
    publicNetworkAccess: 'Enabled'
    tls: {
      clientCertEnabled: false
    }
  }
}

output name string = webPubSub.name
output hostName string = webPubSub.properties.hostName
output principalId string = webPubSub.identity.principalId
