// Static Web App (Free) serving the built client; azd deploys static_web/dist to it.
param name string
param location string
param tags object
param serviceName string = 'web'

resource site 'Microsoft.Web/staticSites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  sku: {
    name: 'Free'
    tier: 'Free'
  }
  properties: {
    allowConfigFileUpdates: true
    stagingEnvironmentPolicy: 'Disabled'
  }
}

output name string = site.name
output uri string = 'https://${site.properties.defaultHostname}'
