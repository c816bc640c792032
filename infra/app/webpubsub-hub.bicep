// The `codestream` hub: every system and user event goes to the Function App's event handler,
// authenticated with an Entra token from Web PubSub's managed identity; anonymous connects denied.
param webPubSubName string
param hubName string
param eventHandlerUrl string

@description('The `aud` of the token Web PubSub sends; the handler checks it (WebPubSubUpstreamAudience).')
param upstreamAudience string

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' existing = {
  name: webPubSubName
}

resource hub 'Microsoft.SignalRService/webPubSub/hubs@2024-03-01' = {
  parent: webPubSub
  name: hubName
  properties: {
    anonymousConnectPolicy: 'deny'
    eventHandlers: [
      {
        urlTemplate: eventHandlerUrl
        userEventPattern: '*'
        systemEvents: [
          'connect'
          'connected'
          'disconnected'
        ]
        auth: {
          type: 'ManagedIdentity'
          managedIdentity: {
            resource: upstreamAudience
          }
        }
      }
    ]
  }
}

output name string = hub.name
