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

@description('Units: 1-10, 20, 30 ... 100 (ignored for Free_F1, which has 1).')
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
